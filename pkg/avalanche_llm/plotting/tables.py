"""Table T01 (summary, spec/18): one row per source and gain, from the long metrics rows."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from ..analysis.gstar import is_gstar_gain
from ..analysis.summarize import TOTAL_LAYER

__all__ = ["summary_rows"]


def _median(values: list[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return float(np.median(finite)) if finite else math.nan


def summary_rows(metrics: Sequence[Mapping[str, Any]], gstar: Mapping[str, Any],
                 n_avalanches: Mapping[tuple[str, float], int], fit_status: Mapping[tuple[str, float, int], str],
                 model_note: str = "") -> list[dict[str, Any]]:
    """T01 rows: total branching ratios with the status of their fit, the median layer m over the layers whose
    fit passed, layer medians of the fitted exponents, avalanche counts. ``gstar`` is ``results/gstar.json``;
    ``fit_status`` the MR fit status per (source, gain, layer), layer -1 the total; ``model_note`` the demo
    note of the model (``model.demo.demo_note``), written in every row."""
    by_key: dict[tuple[str, float], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    total: dict[tuple[str, float], dict[str, float]] = defaultdict(dict)
    for row in metrics:
        key = (row["source"], row["gain"])
        if row["layer"] == TOTAL_LAYER:
            total[key][row["metric"]] = row["value"]
        else:
            by_key[key][row["metric"]].append(row["value"])
    rows = []
    for key in sorted(by_key, key=lambda k: (k[0] != "data", k[0], k[1])):
        source, gain = key
        layers, totals = by_key[key], total[key]
        rows.append({
            "source": source, "gain": gain, "is_gstar": is_gstar_gain(gstar, gain),
            "b_tot_mr": totals.get("m_mr", math.nan), "b_tot_mr_stderr": totals.get("m_mr_stderr", math.nan),
            "b_tot_fit_status": fit_status.get((source, gain, TOTAL_LAYER), "no_estimate"),
            "b_tot_conventional": totals.get("m_conventional", math.nan),
            "m_mr_layer_median": _median([m for m, ok in zip(layers["m_mr"], layers["fit_ok"]) if ok == 1.0]),
            "n_layers_fit_ok": int(sum(ok == 1.0 for ok in layers["fit_ok"])),
            "n_avalanches": int(n_avalanches.get(key, 0)),
            "tau_median": _median(layers["size_alpha"]), "alpha_median": _median(layers["duration_alpha"]),
            "gamma_fit_median": _median(layers["crackling_gamma_fit"]),
            "gamma_pred_median": _median(layers["crackling_gamma_pred"]),
            "p_gof_size_median": _median(layers["size_p_gof"]), "model_note": model_note,
        })
    return rows
