"""S07: statistics (issue 7, phase 7). Percentile bootstrap intervals for every metric against gain,
and the association between the distance from criticality |b_tot(g) - 1| and task performance across
gains, with a Holm correction over the performance metrics (spec/21).

The resampled units are the independent pieces of data: analysis windows for branching ratios and
perplexity (one draw of windows shared by every gain and layer, since all gains read the same text),
avalanches for exponents, ARC items for accuracy (one draw of items shared by every gain).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from runlab import Run

from ..analysis.statistics import holm_adjust, percentile_interval, replicates, segment_resample, spearman_association
from ..analysis.summarize import TOTAL_LAYER
from ..canon import load_canon
from ..config import StudySettings
from ..io.artifacts import read_json, read_parquet
from ..io.schema_validate import table_from_rows
from ..metrics.branching import mr_branching_ratio
from ..metrics.stats import fit_discrete_power_law
from ..raster.build import total_activity
from .sweep import read_gain_rasters

__all__ = ["PERFORMANCE_METRICS", "statistics"]

PERFORMANCE_METRICS = ("acc", "acc_norm", "acc_bytes", "perplexity")


def statistics(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    n_boot, confidence = settings.require_statistics()
    rng = np.random.default_rng(np.random.SeedSequence([run.task_seed(), 7]))
    sweep, measured = run.upstream("S02"), run.upstream("S04")
    rows: list[dict[str, Any]] = []

    def add(metric: str, gain: float, layer: int, estimate: float, boot: np.ndarray, failed: int) -> None:
        interval = percentile_interval(estimate, boot, failed, confidence)
        rows.append({"metric": metric, "gain": gain, "layer": layer, "estimate": interval.estimate,
                     "low": interval.low, "high": interval.high, "n_boot": n_boot, "n_failed": interval.n_failed})

    b_tot: dict[float, tuple[float, np.ndarray]] = {}
    window_draws = None
    for index, gain in enumerate(settings.gain.values):
        rasters, _ = read_gain_rasters(sweep, index)
        bounds = rasters[0].bounds
        if window_draws is None:
            window_draws = rng.integers(0, bounds.size - 1, size=(n_boot, bounds.size - 1))
        for layer, activity in [*enumerate(r.activity() for r in rasters), (TOTAL_LAYER, total_activity(rasters))]:
            estimate, boot, failed = _branching(activity, bounds, settings.metrics.mr_k_max, window_draws)
            add("m_mr", gain, layer, estimate, boot, failed)
            if layer == TOTAL_LAYER:
                b_tot[gain] = (estimate, boot)
    avalanches = read_parquet(measured, "results/avalanches.parquet")
    for (source, gain, layer), sizes, durations in _avalanches_by_layer(avalanches):
        for quantity, values in (("size", sizes), ("duration", durations)):
            estimate, boot, failed = _exponent(values, settings.metrics.min_tail, rng, n_boot)
            add(f"{quantity}_alpha", gain, layer, estimate, boot, failed)

    performance = _performance(run, settings, rng, window_draws, add)
    run.write_results("confidence_intervals", table_from_rows("confidence_intervals", rows))
    associations = _associations(b_tot, performance, confidence)
    name = load_canon().lookup("CANON.OUTPUT.TABLE_T02_CRITICALITY_PERFORMANCE")
    run.write_table(name, table_from_rows(name, associations))
    print(f"S07: {len(rows)} intervals ({n_boot} resamples, {confidence:.0%}); association of |b_tot - 1| with "
          f"{', '.join(PERFORMANCE_METRICS)} over {len(b_tot)} gains", flush=True)


Estimate = tuple[float, np.ndarray, int]  # the statistic on the data, its replicates (NaN: failed), failures


def _branching(activity: np.ndarray, bounds: np.ndarray, k_max: int, draws: np.ndarray) -> Estimate:
    """MR m of ``activity`` and its block-bootstrap replicates over windows (``draws``: (n_boot, n_windows))."""

    def m_of(windows: np.ndarray) -> float:
        return mr_branching_ratio(*segment_resample(activity, bounds, windows), k_max).m

    return _with_replicates(m_of, np.arange(bounds.size - 1), draws, len(draws))


def _exponent(values: np.ndarray, min_tail: int, rng: np.random.Generator, n_boot: int) -> Estimate:
    """Power-law exponent of avalanche ``values`` (x_min rescanned) and its iid bootstrap over avalanches."""

    def alpha_of(indices: np.ndarray) -> float:
        return fit_discrete_power_law(values[indices], min_tail=min_tail).alpha

    # one row at a time: n_boot x n_avalanches indices would not fit in memory on a large study
    draws = (rng.integers(0, values.size, size=values.size) for _ in range(n_boot))
    return _with_replicates(alpha_of, np.arange(values.size), draws, n_boot)


def _with_replicates(statistic: Callable[[np.ndarray], float], identity: np.ndarray, draws: Iterable[np.ndarray],
                     n_boot: int) -> Estimate:
    try:
        estimate = float(statistic(identity))
    except ValueError:  # e.g. too few avalanches for a fit: no interval either
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


def _performance(run: Run, settings: StudySettings, rng: np.random.Generator, window_draws: np.ndarray,
                 add: Callable[..., None]) -> dict[str, dict[float, tuple[float, np.ndarray]]]:
    """Per performance metric and gain: the estimate and its replicates (items for ARC, windows for perplexity,
    one draw shared by every gain); each also becomes an interval row."""
    arc, ppl = run.upstream("S06ARC"), run.upstream("S06B")
    performance: dict[str, dict[float, tuple[float, np.ndarray]]] = {metric: {} for metric in PERFORMANCE_METRICS}
    item_draws = None
    for index, gain in enumerate(settings.gain.values):
        choices = read_parquet(arc, f"results/arc_items_gain{index:02d}.parquet")
        for rule in ("acc", "acc_norm", "acc_bytes"):
            correct = _item_correct(choices, rule)
            if item_draws is None:
                item_draws = rng.integers(0, correct.size, size=(len(window_draws), correct.size))
            boot = correct[item_draws].mean(axis=1)
            performance[rule][gain] = (float(correct.mean()), boot)
            add(rule, gain, TOTAL_LAYER, float(correct.mean()), boot, 0)
        windows = read_parquet(ppl, f"results/perplexity_windows_gain{index:02d}.parquet")
        nll, tokens = np.asarray(windows["nll_sum"]), np.asarray(windows["n_predicted"], dtype=np.float64)
        estimate = math.exp(nll.sum() / tokens.sum())
        boot = np.exp(nll[window_draws].sum(axis=1) / tokens[window_draws].sum(axis=1))
        performance["perplexity"][gain] = (estimate, boot)
        add("perplexity", gain, TOTAL_LAYER, estimate, boot, 0)
    return performance


def _item_correct(choices: dict[str, list], rule: str) -> np.ndarray:
    """1.0 where the item's choice under ``rule`` is its answer, per item in item order."""
    chosen = np.asarray(choices[f"chosen_{rule}"])
    items = np.asarray(choices["item_index"])[chosen]
    correct = np.asarray(choices["is_answer"])[chosen]
    return correct[np.argsort(items, kind="stable")].astype(np.float64)


def _associations(b_tot: dict[float, tuple[float, np.ndarray]],
                  performance: dict[str, dict[float, tuple[float, np.ndarray]]], confidence: float,
                  ) -> list[dict[str, Any]]:
    """Spearman rho of |b_tot(g) - 1| and each performance metric over the gains that have both, its
    paired-bootstrap interval, the exact permutation p, and Holm's adjustment over the metrics."""
    rows = []
    for metric in PERFORMANCE_METRICS:
        gains = sorted(set(b_tot) & set(performance[metric]))
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
