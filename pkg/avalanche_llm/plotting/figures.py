"""Figure F03 (spec/19): branching ratio against gain, per layer and in total, with g* marked."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..analysis.summarize import TOTAL_LAYER

__all__ = ["branching_curves"]


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
