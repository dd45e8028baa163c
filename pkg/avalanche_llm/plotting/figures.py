"""Figures of spec/19: F03 branching ratio against gain (S05); F04 task performance against gain and F05
performance against the distance from criticality (S08)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..analysis.summarize import TOTAL_LAYER

__all__ = ["branching_curves", "performance_curves", "performance_vs_criticality"]


def branching_curves(metrics: Sequence[Mapping[str, Any]], gstar: float) -> Figure:
    """One panel: MR branching ratio m of each layer (thin), of the total activity (thick), and the
    conventional estimate of the total (dashed), against gain; lines at m = 1 and g = g*."""
    curves: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    for row in metrics:
        if row["source"] == "data" and row["metric"] in ("m_mr", "m_conventional"):
            curves[(row["layer"], row["metric"])].append((row["gain"], row["value"]))
    figure = Figure(figsize=(6.0, 4.0), dpi=100)
    axes = figure.add_subplot()
    layers = sorted({layer for layer, _ in curves if layer != TOTAL_LAYER})
    colours = [f"C{i % 10}" for i in range(len(layers))]
    for layer, colour in zip(layers, colours):
        gains, values = np.asarray(sorted(curves[(layer, "m_mr")])).T
        axes.plot(gains, values, color=colour, linewidth=0.9, alpha=0.8, marker=".", label=f"layer {layer} (MR)")
    for metric, style, label in (("m_mr", "-", "total (MR)"), ("m_conventional", "--", "total (conventional)")):
        gains, values = np.asarray(sorted(curves[(TOTAL_LAYER, metric)])).T
        axes.plot(gains, values, color="black", linestyle=style, linewidth=2.0, marker="o", label=label)
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":", label="m = 1")
    axes.axvline(gstar, color="crimson", linewidth=1.0, linestyle="-.", label=f"g* = {gstar:g}")
    axes.set_xlabel("gain g")
    axes.set_ylabel("branching ratio m")
    axes.set_title("F03 branching ratio against gain")
    axes.legend(fontsize=6, ncol=2, loc="best")
    figure.tight_layout()
    return figure


def _interval_errors(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, lower error bars, upper error bars) of ``key`` with its ``<key>_low``/``<key>_high``."""
    values = np.asarray([row[key] for row in rows], dtype=float)
    low = np.asarray([row[f"{key}_low"] for row in rows], dtype=float)
    high = np.asarray([row[f"{key}_high"] for row in rows], dtype=float)
    return values, np.nan_to_num(values - low), np.nan_to_num(high - values)


def performance_curves(rows: Sequence[Mapping[str, Any]], gstar: float) -> Figure:
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
        axes.axvline(gstar, color="crimson", linewidth=1.0, linestyle="-.", label=f"g* = {gstar:g}")
        axes.set_xlabel("gain g")
        axes.legend(fontsize=7, loc="best")
    accuracy.set_ylabel("ARC accuracy")
    perplexity.set_ylabel("perplexity")
    figure.suptitle("F04 task performance against gain")
    figure.tight_layout()
    return figure


def performance_vs_criticality(rows: Sequence[Mapping[str, Any]], association: Mapping[str, Any]) -> Figure:
    """F05: ARC accuracy against the distance from criticality |b_tot(g) - 1|, one point per swept gain
    with both intervals, and Spearman's rho of T02 in the title."""
    swept = [row for row in rows if np.isfinite(row["b_tot"])]
    distance = np.abs(np.asarray([row["b_tot"] for row in swept], dtype=float) - 1.0)
    ends = np.abs(np.asarray([[row["b_tot_low"], row["b_tot_high"]] for row in swept], dtype=float) - 1.0)
    x_low, x_high = np.nan_to_num(distance - ends.min(axis=1)), np.nan_to_num(ends.max(axis=1) - distance)
    values, below, above = _interval_errors(swept, "acc")
    figure = Figure(figsize=(5.0, 4.0), dpi=100)
    axes = figure.add_subplot()
    axes.errorbar(distance, values, xerr=[np.maximum(x_low, 0), np.maximum(x_high, 0)], yerr=[below, above], fmt="o",
                  capsize=3, color="C0", label="acc per gain")
    for row, x, y in zip(swept, distance, values):
        axes.annotate(f"g={row['gain']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xlabel("|b_tot - 1|")
    axes.set_ylabel("ARC accuracy")
    rho, low, high, p_holm = (association[key] for key in ("rho", "low", "high", "p_holm"))
    title = (f"F05 rho = {rho:.2f} [{low:.2f}, {high:.2f}], p_Holm = {p_holm:.3f}" if np.isfinite(rho)
             else "F05 rho undefined (accuracy or |b_tot - 1| constant across gains)")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure
