"""Figures of spec/19: F03 branching ratio against gain (S05); F04 task performance against gain and F05
performance against the distance from criticality (S08)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..analysis.gstar import gstar_label
from ..analysis.summarize import TOTAL_LAYER

__all__ = ["M_AXIS", "branching_curves", "gstar_marks", "mark_demo", "performance_curves", "performance_vs_criticality"]


M_AXIS = (-0.1, 1.6)
"""y range of F03: the MR m lies in [0.001, 1.5] (spec/12); error bars that leave it are cut at the frame."""


def _fit_failures(fit_status: Mapping[tuple[str, float, int], str]) -> list[str]:
    """Lines naming every failed MR fit of the data: the total per gain, and the layers per gain."""
    lines, layers = [], defaultdict(list)
    for (source, gain, layer), status in sorted(fit_status.items()):
        if source != "data" or status == "ok":
            continue
        if layer == TOTAL_LAYER:
            lines.append(f"A_tot at g = {gain:g}: {status.replace(';', ', ')}")
        else:
            layers[gain].append(layer)
    n_layers = len({layer for (_, _, layer) in fit_status if layer != TOTAL_LAYER})
    lines += [f"g = {gain:g}: {len(failed)} of {n_layers} layer fits failed" for gain, failed in sorted(layers.items())]
    return lines


def mark_demo(figure: Figure, note: str) -> Figure:
    """A demo model's note across the figure (in red, over the panels); nothing for a real model."""
    if note:
        figure.text(0.5, 0.5, "DEMO MODEL", fontsize=40, color="red", alpha=0.15, ha="center", va="center",
                    rotation=25, transform=figure.transFigure)
        figure.text(0.5, 0.995, note, fontsize=6, color="red", ha="center", va="top", transform=figure.transFigure)
    return figure


def gstar_marks(axes: Any, gstar: Mapping[str, Any]) -> None:
    """g* as a dash-dotted line with its interval shaded, or, without a g*, the outcome in the corner."""
    if gstar["outcome"] == "crossing":
        axes.axvspan(gstar["gstar_low"], gstar["gstar_high"], color="crimson", alpha=0.12, linewidth=0)
        axes.axvline(gstar["gstar"], color="crimson", linewidth=1.0, linestyle="-.", label=gstar_label(gstar))
    else:
        axes.text(0.02, 0.98, gstar_label(gstar), transform=axes.transAxes, fontsize=7, color="crimson",
                  va="top", ha="left", bbox={"facecolor": "white", "edgecolor": "crimson", "alpha": 0.9})


def branching_curves(metrics: Sequence[Mapping[str, Any]], gstar: Mapping[str, Any],
                     fit_status: Mapping[tuple[str, float, int], str]) -> Figure:
    """F03, one panel against gain: the MR m of each layer (thin; a failed fit as a hollow marker off the
    line), of the total activity (thick, ± its standard error; a failed fit as a red cross), the
    conventional estimate of the total (dashed); lines at m = 1 and at g* with its interval (spec/19).
    Every failed fit of the data is listed under the panel, and the y axis is fixed to ``M_AXIS``."""
    curves: dict[tuple[int, str], dict[float, float]] = defaultdict(dict)
    for row in metrics:
        if row["source"] == "data" and row["metric"] in ("m_mr", "m_conventional", "m_mr_stderr"):
            curves[(row["layer"], row["metric"])][row["gain"]] = row["value"]
    failures = _fit_failures(fit_status)
    figure = Figure(figsize=(8.0, 4.2 + 0.1 * len(failures)), dpi=100)
    axes = figure.add_subplot()
    layers = sorted({layer for layer, _ in curves if layer != TOTAL_LAYER})

    def split(layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gains = np.asarray(sorted(curves[(layer, "m_mr")]), dtype=float)
        values = np.asarray([curves[(layer, "m_mr")][g] for g in gains], dtype=float)
        ok = np.asarray([fit_status.get(("data", g, layer)) == "ok" for g in gains])
        return gains, values, ok

    for index, layer in enumerate(layers):
        gains, values, ok = split(layer)
        colour = f"C{index % 10}"
        axes.plot(gains[ok], values[ok], color=colour, linewidth=0.9, alpha=0.8, marker=".", label=f"layer {layer} (MR)")
        axes.plot(gains[~ok], values[~ok], linestyle="none", marker="o", markersize=4, markerfacecolor="none",
                  color=colour, alpha=0.8)
    gains, values, ok = split(TOTAL_LAYER)
    errors = np.nan_to_num(np.asarray([curves[(TOTAL_LAYER, "m_mr_stderr")].get(g, np.nan) for g in gains]))
    axes.plot(gains[ok], values[ok], color="black", linewidth=2.0, marker="o", label="total (MR)")
    axes.errorbar(gains[ok], values[ok], yerr=errors[ok], fmt="none", ecolor="black", capsize=3)
    if (~ok).any():
        axes.errorbar(gains[~ok], values[~ok], yerr=errors[~ok], fmt="x", color="red", ecolor="red", capsize=3,
                      markersize=8, label="total (MR), fit failed")
    conventional = curves[(TOTAL_LAYER, "m_conventional")]
    axes.plot(sorted(conventional), [conventional[g] for g in sorted(conventional)], color="black", linestyle="--",
              linewidth=2.0, marker="o", markerfacecolor="none", label="total (conventional)")
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":", label="m = 1")
    gstar_marks(axes, gstar)
    axes.set_ylim(*M_AXIS)
    axes.set_xlabel("gain g")
    axes.set_ylabel("branching ratio m")
    axes.set_title("F03 branching ratio against gain (MR ± jackknife standard error)", fontsize=9)
    axes.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    note = "failed MR fits (not candidates for g*):\n" + "\n".join(failures) if failures else "every MR fit passed"
    figure.text(0.01, 0.01, note, fontsize=6, va="bottom", ha="left", color="red" if failures else "black")
    figure.tight_layout(rect=(0.0, 0.1 * (len(failures) + 2) / (4.2 + 0.1 * len(failures)), 1.0, 1.0))
    return figure


def _interval_errors(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, lower error bars, upper error bars) of ``key`` with its ``<key>_low``/``<key>_high``."""
    values = np.asarray([row[key] for row in rows], dtype=float)
    low = np.asarray([row[f"{key}_low"] for row in rows], dtype=float)
    high = np.asarray([row[f"{key}_high"] for row in rows], dtype=float)
    return values, np.nan_to_num(values - low), np.nan_to_num(high - values)


def performance_curves(rows: Sequence[Mapping[str, Any]], gstar: Mapping[str, Any]) -> Figure:
    """F04, two panels against gain: ARC accuracy (acc and acc_norm, bootstrap intervals) and perplexity."""
    gains = np.asarray([row["gain"] for row in rows], dtype=float)
    figure = Figure(figsize=(8.0, 3.6), dpi=100)
    accuracy, perplexity = figure.subplots(1, 2)
    for key, label, style in (("acc", "acc", "o-"), ("acc_norm", "acc_norm", "s--")):
        values, below, above = _interval_errors(rows, key)
        accuracy.errorbar(gains, values, yerr=[below, above], fmt=style, capsize=3, label=label)
    values, below, above = _interval_errors(rows, "perplexity")
    perplexity.errorbar(gains, values, yerr=[below, above], fmt="o-", color="black", capsize=3, label="perplexity")
    for axes in (accuracy, perplexity):
        gstar_marks(axes, gstar)
        axes.set_xlabel("gain g")
        axes.legend(fontsize=7, loc="best")
    accuracy.set_ylabel("ARC accuracy")
    perplexity.set_ylabel("perplexity")
    figure.suptitle("F04 task performance against gain")
    figure.tight_layout()
    return figure


def performance_vs_criticality(rows: Sequence[Mapping[str, Any]], association: Mapping[str, Any]) -> Figure:
    """F05: ARC accuracy against the distance from criticality |b_tot(g) - 1|, one point per swept gain with
    both intervals (a gain whose MR fit failed as a red cross: T02 leaves it out), and Spearman's rho of T02
    in the title. The x axis is fixed to [0, 1]: m lies in [0.001, 1.5], so |b_tot - 1| <= 1."""
    swept = [row for row in rows if np.isfinite(row["b_tot"])]
    b_tot = np.asarray([row["b_tot"] for row in swept], dtype=float)
    distance = np.abs(b_tot - 1.0)
    low, high = (np.asarray([row[key] for row in swept], dtype=float) for key in ("b_tot_low", "b_tot_high"))
    nearest = np.where((low <= 1.0) & (high >= 1.0), 0.0, np.minimum(np.abs(low - 1.0), np.abs(high - 1.0)))
    farthest = np.maximum(np.abs(low - 1.0), np.abs(high - 1.0))
    x_below, x_above = np.nan_to_num(np.maximum(distance - nearest, 0)), np.nan_to_num(np.maximum(farthest - distance, 0))
    values, below, above = _interval_errors(swept, "acc")
    ok = np.asarray([row["b_tot_fit_status"] == "ok" for row in swept], dtype=bool)
    figure = Figure(figsize=(5.0, 4.0), dpi=100)
    axes = figure.add_subplot()
    for mask, style, colour, label in ((ok, "o", "C0", "acc per gain"), (~ok, "x", "red", "acc, MR fit failed")):
        if mask.any():
            axes.errorbar(distance[mask], values[mask], xerr=[x_below[mask], x_above[mask]],
                          yerr=[below[mask], above[mask]], fmt=style, capsize=3, color=colour, label=label)
    for row, x, y, fine in zip(swept, distance, values, ok):
        axes.annotate(f"g={row['gain']:g}" + ("" if fine else " (fit failed)"), (x, y), textcoords="offset points",
                      xytext=(4, 4), fontsize=7, color="black" if fine else "red")
    axes.set_xlim(-0.02, 1.02)
    axes.set_xlabel("|b_tot - 1|")
    axes.set_ylabel("ARC accuracy")
    rho, rho_low, rho_high, p_holm = (association[key] for key in ("rho", "low", "high", "p_holm"))
    title = (f"F05 rho = {rho:.2f} [{rho_low:.2f}, {rho_high:.2f}], p_Holm = {p_holm:.3f}, "
             f"{association['n_gains']} gains with a valid fit" if np.isfinite(rho)
             else f"F05 rho undefined ({association['n_gains']} gains with a valid MR fit, or a constant)")
    axes.set_title(title, fontsize=8)
    if swept:
        axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure
