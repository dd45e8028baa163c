"""S07: statistics (issue 7, phase 7). Percentile bootstrap intervals for every metric against gain,
and the association between the distance from criticality |b_tot(g) - 1| and task performance across
gains, with a Holm correction over the performance metrics (spec/21).

The resampled units are the independent pieces of data: analysis windows for branching ratios and
perplexity (one draw of windows shared by every gain and layer, since all gains read the same text),
avalanches for exponents, ARC items for accuracy (one draw of items shared by every gain).

``runlab verify`` recomputes every number from the upstream runs and the run's seed
(``verify_statistics``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pyarrow as pa

from runlab import Run, RunView

from ..analysis.statistics import (branching_replicates, exponent_statistic, holm_adjust, mean_statistic,
                                  percentile_interval, ratio_statistic, replicates, spearman_association)
from ..analysis.summarize import TOTAL_LAYER
from ..behaviour.arc import correct_by_item
from ..canon import load_canon
from ..config import StudySettings
from ..io.artifacts import read_parquet
from ..io.recompute import table_problems
from ..io.schema_validate import table_from_rows
from ..metrics.branching import branching_estimates
from ..model.demo import demo_note
from ..raster.build import total_activity
from .behaviour import gain_rows
from .sweep import read_gain_rasters

__all__ = ["PERFORMANCE_METRICS", "Statistics", "statistics", "statistics_of", "verify_statistics"]

PERFORMANCE_METRICS = ("acc", "acc_norm", "acc_bytes", "perplexity")


def _t02() -> str:
    """Table T02's name (CANON.OUTPUT)."""
    return load_canon().lookup("CANON.OUTPUT.TABLE_T02_CRITICALITY_PERFORMANCE")


@dataclass(frozen=True)
class Statistics:
    """What S07 writes: the interval rows (results/confidence_intervals.parquet) and table T02."""

    intervals: pa.Table
    t02: pa.Table
    n_gains_with_b_tot: int  # gains whose MR fit of A_tot passed its checks


def statistics_of(config: Mapping[str, Any], seed: int, upstream: Callable[[str], RunView]) -> Statistics:
    """S07's outputs from its config, its run seed and ``upstream(tag)``, the views of S02, S04, S06ARC and
    S06B (no writing): every resample is drawn from ``seed``, so the same inputs give the same numbers."""
    settings = StudySettings.from_config(config)
    n_boot, confidence = settings.require_statistics()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    sweep, measured = upstream("S02"), upstream("S04")
    rows: list[dict[str, Any]] = []

    def add(metric: str, gain: float, layer: int, estimate: float, boot: np.ndarray, failed: int,
            fit_status: str = "ok") -> None:
        interval = percentile_interval(estimate, boot, failed, confidence)
        status = fit_status if math.isfinite(interval.estimate) else "no_estimate"
        rows.append({"metric": metric, "gain": gain, "layer": layer, "estimate": interval.estimate,
                     "low": interval.low, "high": interval.high, "n_boot": n_boot, "n_failed": interval.n_failed,
                     "fit_status": status})

    b_tot: dict[float, tuple[float, np.ndarray]] = {}  # only the gains whose MR fit of A_tot passed its checks
    window_draws = None
    for index, gain in enumerate(settings.gain.values):
        rasters, _ = read_gain_rasters(sweep, index)
        bounds = rasters[0].bounds
        if window_draws is None:
            window_draws = rng.integers(0, bounds.size - 1, size=(n_boot, bounds.size - 1))
        for layer, activity in [*enumerate(r.activity() for r in rasters), (TOTAL_LAYER, total_activity(rasters))]:
            fit = branching_estimates(activity, bounds, settings.metrics.mr_k_max)
            boot, failed = np.full(n_boot, math.nan), n_boot
            if fit.fit_status != "no_estimate":
                boot, failed = branching_replicates(activity, bounds, settings.metrics.mr_k_max, window_draws)
            add("m_mr", gain, layer, fit.m_mr, boot, failed, fit.fit_status)
            if layer == TOTAL_LAYER and fit.fit_status == "ok":
                b_tot[gain] = (fit.m_mr, boot)
    avalanches = read_parquet(measured, "results/avalanches.parquet")
    for (source, gain, layer), sizes, durations in _avalanches_by_layer(avalanches):
        for quantity, values in (("size", sizes), ("duration", durations)):
            # resamples drawn one at a time: n_boot x n_avalanches indices need not fit in memory
            draws = (rng.integers(0, values.size, size=values.size) for _ in range(n_boot))
            statistic = exponent_statistic(values, settings.metrics.min_tail)
            estimate, boot, failed = _with_replicates(statistic, values.size, draws, n_boot)
            add(f"{quantity}_alpha", gain, layer, estimate, boot, failed)

    performance = _performance(upstream("S06ARC"), upstream("S06B"), settings, rng, window_draws, add)
    note = demo_note(sweep.upstream("S01").annotations.get("model", {}))
    associations = [{**row, "model_note": note} for row in _associations(b_tot, performance, confidence)]
    return Statistics(table_from_rows("confidence_intervals", rows), table_from_rows(_t02(), associations), len(b_tot))


def statistics(run: Run) -> None:
    n_boot, confidence = StudySettings.from_config(run.config).require_statistics()
    result = statistics_of(run.config, run.task_seed(), run.upstream)
    run.write_results("confidence_intervals", result.intervals)
    run.write_table(_t02(), result.t02)
    print(f"S07: {result.intervals.num_rows} intervals ({n_boot} resamples, {confidence:.0%}); association of "
          f"|b_tot - 1| with {', '.join(PERFORMANCE_METRICS)} over {result.n_gains_with_b_tot} gains", flush=True)


def verify_statistics(view: RunView) -> list[str]:
    """``runlab verify`` of an S07 run: every interval and T02 (parquet) recomputed from S02, S04, S06ARC and
    S06B with the run's seed (io/recompute.py); T02's CSV is the parquet's table in another format."""
    result = statistics_of(view.config, view.record["seeds"]["global"], view.upstream)
    return table_problems(view, {"results/confidence_intervals.parquet": result.intervals,
                                 f"tables/{_t02()}.parquet": result.t02})


Estimate = tuple[float, np.ndarray, int]  # the statistic on the data, its replicates (NaN: failed), failures


def _with_replicates(statistic: Callable[[np.ndarray], float], n_units: int, draws: Iterable[np.ndarray],
                     n_boot: int) -> Estimate:
    """The statistic on all ``n_units`` and on each resample of ``draws``; a statistic the data cannot give
    (e.g. too few avalanches for a fit) has no interval either."""
    try:
        estimate = float(statistic(np.arange(n_units)))
    except ValueError:
        return math.nan, np.full(n_boot, math.nan), n_boot
    boot, failed = replicates(statistic, draws)
    return estimate, boot, failed


def _avalanches_by_layer(avalanches: dict[str, list]) -> list[tuple[tuple[str, float, int], np.ndarray, np.ndarray]]:
    """Sizes and durations of the data's avalanches per (source, gain, layer), in a stable order."""
    source = np.asarray(avalanches["source"])
    keep = source == "data"
    gain, layer = np.asarray(avalanches["gain"])[keep], np.asarray(avalanches["layer"])[keep]
    size, duration = np.asarray(avalanches["size"])[keep], np.asarray(avalanches["duration"])[keep]
    groups = []
    for key in sorted(set(zip(gain.tolist(), layer.tolist()))):
        mask = (gain == key[0]) & (layer == key[1])
        groups.append((("data", key[0], key[1]), size[mask], duration[mask]))
    return groups


def _performance(arc: RunView, ppl: RunView, settings: StudySettings, rng: np.random.Generator,
                 window_draws: np.ndarray, add: Callable[..., None],
                 ) -> dict[str, dict[float, tuple[float, np.ndarray]]]:
    """Per performance metric and gain, from the S06ARC run ``arc`` and the S06B run ``ppl``: the estimate and
    its replicates (items for ARC, windows for perplexity, one draw shared by every gain); each also becomes
    an interval row."""
    performance: dict[str, dict[float, tuple[float, np.ndarray]]] = {metric: {} for metric in PERFORMANCE_METRICS}
    item_draws = None
    for index, gain in enumerate(settings.gain.values):
        choices = gain_rows(arc, "arc_items", index)
        for rule in ("acc", "acc_norm", "acc_bytes"):
            correct = correct_by_item(choices, rule)
            if item_draws is None:
                item_draws = rng.integers(0, correct.size, size=(len(window_draws), correct.size))
            _record_performance(performance, add, rule, gain, mean_statistic(correct), correct.size, item_draws)
        windows = gain_rows(ppl, "perplexity_windows", index)
        statistic = ratio_statistic(np.asarray([row["nll_sum"] for row in windows]),
                                    np.asarray([row["n_predicted"] for row in windows], dtype=np.float64), math.exp)
        _record_performance(performance, add, "perplexity", gain, statistic, len(windows), window_draws)
    return performance


def _record_performance(performance: dict[str, dict[float, tuple[float, np.ndarray]]], add: Callable[..., None],
                        metric: str, gain: float, statistic: Callable[[np.ndarray], float], n_units: int,
                        draws: np.ndarray) -> None:
    """The metric at ``gain`` on all units and on the shared resamples ``draws``: kept for the association
    and added as an interval row."""
    estimate, boot, failed = _with_replicates(statistic, n_units, draws, len(draws))
    performance[metric][gain] = (estimate, boot)
    add(metric, gain, TOTAL_LAYER, estimate, boot, failed)


def _associations(b_tot: dict[float, tuple[float, np.ndarray]],
                  performance: dict[str, dict[float, tuple[float, np.ndarray]]], confidence: float,
                  ) -> list[dict[str, Any]]:
    """Spearman rho of |b_tot(g) - 1| and each performance metric over the gains that have both (``b_tot``
    holds only the gains whose MR fit passed its checks), its paired-bootstrap interval, the exact
    permutation p, and Holm's adjustment over the metrics; NaN with fewer than two such gains."""
    rows = []
    for metric in PERFORMANCE_METRICS:
        gains = sorted(set(b_tot) & set(performance[metric]))
        if len(gains) < 2:
            rows.append({"performance_metric": metric, "n_gains": len(gains), "rho": math.nan, "low": math.nan,
                         "high": math.nan, "p_permutation": math.nan})
            continue
        x = np.asarray([abs(b_tot[g][0] - 1.0) for g in gains])
        y = np.asarray([performance[metric][g][0] for g in gains])
        x_boot = np.abs(np.stack([b_tot[g][1] for g in gains], axis=1) - 1.0)
        y_boot = np.stack([performance[metric][g][1] for g in gains], axis=1)
        association = spearman_association(x, y, x_boot, y_boot, confidence)
        rows.append({"performance_metric": metric, "n_gains": len(gains), "rho": association.rho,
                     "low": association.low, "high": association.high, "p_permutation": association.p_permutation})
    for row, adjusted in zip(rows, holm_adjust([row["p_permutation"] for row in rows])):
        row["p_holm"] = adjusted
    return rows
