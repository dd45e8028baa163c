"""The metrics table (``results/metrics.parquet``): every number of S02 and S04 in one long table,
one row per (source, gain, layer, metric), rebuilt from their artifacts alone (spec/18)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["BRANCHING_METRICS", "CRACKLING_METRICS", "FIT_METRICS", "SWEEP_METRICS", "TOTAL_LAYER", "metrics_rows"]

TOTAL_LAYER = -1  # the layer index of the total activity A_tot = sum over layers
BRANCHING_METRICS = ("m_conventional", "m_mr", "b_mr", "c_mr", "m_mr_stderr", "b_mr_stderr")
SWEEP_METRICS = ("b_tot_mr", "b_tot_mr_stderr", "b_tot_mr_b", "b_tot_mr_c", "b_tot_conventional", "mean_total_activity")
FIT_METRICS = ("alpha", "xmin", "ks", "n_tail", "n", "p_gof", "lr_lognormal", "p_lognormal", "lr_exponential",
               "p_exponential")
CRACKLING_METRICS = ("tau", "alpha", "gamma_fit", "gamma_pred", "difference")

Rows = Sequence[Mapping[str, Any]]


def metrics_rows(gain_sweep: Rows, branching: Rows, fits: Rows, crackling: Rows) -> list[dict[str, Any]]:
    """Long rows ``source, gain, layer, metric, value`` (NaN where a metric could not be estimated; a fit
    status becomes ``fit_ok`` / ``b_tot_fit_ok``, 1.0 for ``ok`` and 0.0 for a failed fit)."""
    rows: list[dict[str, Any]] = []

    def add(source: str, gain: float, layer: int, metric: str, value: Any) -> None:
        rows.append({"source": source, "gain": float(gain), "layer": int(layer), "metric": metric,
                     "value": math.nan if value is None else float(value)})

    for row in gain_sweep:
        for metric in SWEEP_METRICS:
            add("data", row["gain"], TOTAL_LAYER, metric, row[metric])
        add("data", row["gain"], TOTAL_LAYER, "b_tot_fit_ok", row["b_tot_fit_status"] == "ok")
    for row in branching:
        for metric in BRANCHING_METRICS:
            add(row["source"], row["gain"], row["layer"], metric, row[metric])
        add(row["source"], row["gain"], row["layer"], "fit_ok", row["fit_status"] == "ok")
    for row in fits:
        for metric in FIT_METRICS:
            add(row["source"], row["gain"], row["layer"], f"{row['quantity']}_{metric}", row[metric])
    for row in crackling:
        for metric in CRACKLING_METRICS:
            add(row["source"], row["gain"], row["layer"], f"crackling_{metric}", row[metric])
    return rows
