"""Uncertainty and tests for phase 7: bootstrap intervals, Spearman association across gains, Holm's correction.

Intervals are percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) over independent units that
the caller names: text windows (segments) for branching ratios, avalanches for exponents, items for
accuracy, windows for perplexity. All randomness comes from a passed ``np.random.Generator``; a result is
a function of the data and that generator's state.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from ..metrics.branching import pooled_slopes, window_moments
from ..metrics.mr_fit import fit_offset_exponential
from ..metrics.stats import fit_discrete_power_law
from ..raster.build import as_bounds

__all__ = ["Association", "EXACT_PERMUTATION_MAX_N", "Interval", "N_RANDOM_PERMUTATIONS", "PERMUTATION_SEED",
           "bootstrap_interval", "branching_interval", "branching_replicates", "branching_statistic",
           "exponent_interval", "exponent_statistic", "holm_adjust", "mean_interval", "mean_statistic",
           "percentile_interval", "ratio_interval", "ratio_statistic", "replicates", "segment_resample", "spearman_association"]

EXACT_PERMUTATION_MAX_N = 8
"""Largest ``n`` whose permutation p-value enumerates all ``n!`` orderings (8! = 40,320)."""
N_RANDOM_PERMUTATIONS = 20_000
"""Random orderings drawn, besides the identity, for the permutation p-value when ``n > EXACT_PERMUTATION_MAX_N``."""
PERMUTATION_SEED = 0
"""Seed of the generator of those random orderings, so that the p-value is a function of the data alone."""
_RHO_TOLERANCE = 1e-12
"""Permuted |rho| within this of the observed |rho| count as ties (they differ only by rounding)."""


@dataclass(frozen=True)
class Interval:
    """``estimate`` on all units and its percentile bootstrap interval ``[low, high]`` from ``n_boot`` resamples.

    ``n_failed`` resamples had no statistic (ValueError or NaN) and were dropped; when more than half
    failed, ``low`` and ``high`` are NaN.
    """

    estimate: float
    low: float
    high: float
    n_boot: int
    n_failed: int


@dataclass(frozen=True)
class Association:
    """Spearman ``rho`` of ``n`` paired values, its percentile bootstrap interval ``[low, high]``, and the
    two-sided permutation p-value ``p_permutation`` (NaN where ``rho`` is undefined: constant input)."""

    rho: float
    low: float
    high: float
    p_permutation: float
    n: int


def _check_count(name: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return float(confidence)


def _percentiles(valid: np.ndarray, n_invalid: int, confidence: float) -> tuple[float, float]:
    """``(low, high)`` percentiles (numpy's linear interpolation) of the ``valid`` replicates at ``confidence``;
    NaN when the ``n_invalid`` others are more than half of all."""
    if 2 * n_invalid > n_invalid + valid.size:
        return math.nan, math.nan
    tail = (1.0 - _check_confidence(confidence)) / 2.0
    low, high = np.quantile(valid, [tail, 1.0 - tail])
    return float(low), float(high)


def replicates(statistic: Callable[[np.ndarray], float], draws: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
    """``(values, n_failed)``: float64 ``(n_boot,)`` with ``statistic(indices)`` for each resample ``indices`` of
    ``draws`` (rows of an int ``(n_boot, n_units)`` array, or any iterable of index arrays), NaN where it raised
    ValueError or gave NaN, and the number of such failures."""
    values = []
    for indices in draws:
        try:
            values.append(float(statistic(indices)))
        except ValueError:
            values.append(math.nan)
    array = np.array(values, dtype=np.float64)
    return array, int(np.count_nonzero(np.isnan(array)))


def percentile_interval(estimate: float, boot: np.ndarray, n_failed: int, confidence: float = 0.95) -> Interval:
    """The percentile :class:`Interval` of the bootstrap replicates ``boot`` (``(n_boot,)``; NaN marks the
    ``n_failed`` failed resamples, which are dropped). Raises ValueError when ``n_failed`` is not the number of NaN."""
    values = np.asarray(boot, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"replicates must be a non-empty 1-D (n_boot,) array, got shape {values.shape}")
    failed = np.isnan(values)
    if int(failed.sum()) != n_failed:
        raise ValueError(f"n_failed is {n_failed} but the replicates hold {int(failed.sum())} NaN")
    low, high = _percentiles(values[~failed], int(n_failed), confidence)
    return Interval(estimate=float(estimate), low=low, high=high, n_boot=int(values.size), n_failed=int(n_failed))


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_units: int, *, n_boot: int,
                       rng: np.random.Generator, confidence: float = 0.95) -> Interval:
    """Percentile bootstrap of ``statistic`` over ``n_units`` independent units.

    ``statistic`` maps int64 unit indices ``(n_units,)`` (repeats allowed) to a float; the estimate is
    ``statistic(arange(n_units))``, whose ValueError propagates. Resample ``b`` is row ``b`` of
    ``rng.integers(0, n_units, size=(n_boot, n_units))``, drawn one row at a time (same values, one row in
    memory). The draws depend only on the generator's state, so generators in one state resample the same
    units (a paired bootstrap), provided ``statistic`` does not itself draw from ``rng``.
    """
    n_units, n_boot = _check_count("n_units", n_units, 1), _check_count("n_boot", n_boot, 1)
    _check_confidence(confidence)
    estimate = float(statistic(np.arange(n_units, dtype=np.int64)))
    draws = (rng.integers(0, n_units, size=n_units) for _ in range(n_boot))
    return percentile_interval(estimate, *replicates(statistic, draws), confidence)


def segment_resample(activity: np.ndarray, bounds: np.ndarray, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(activity', bounds')``: the ``segments`` (int, ``(k,)``, in order, repeats allowed) of ``activity (T,)``
    concatenated, with int64 bounds ``(k + 1,)`` of the new series; ``activity'`` keeps the dtype.

    Estimators that never pair bins across a segment boundary see exactly the chosen segments.
    """
    series = np.asarray(activity)
    if series.ndim != 1:
        raise ValueError(f"activity must be a 1-D (T,) array, got shape {series.shape}")
    edges = as_bounds(bounds, series.size)
    chosen = np.asarray(segments)
    if chosen.ndim != 1 or chosen.size == 0 or not np.issubdtype(chosen.dtype, np.integer):
        raise ValueError(f"segments must be a non-empty 1-D integer array, got {chosen.dtype} of shape {chosen.shape}")
    if chosen.min() < 0 or chosen.max() >= edges.size - 1:
        raise ValueError(f"segment indices must lie in [0, {edges.size - 1}), got [{chosen.min()}, {chosen.max()}]")
    lengths = np.diff(edges)[chosen]
    new_bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    shift = np.repeat(edges[chosen] - new_bounds[:-1], lengths)  # old index minus new index, per bin
    return series[np.arange(new_bounds[-1], dtype=np.int64) + shift], new_bounds


def branching_replicates(activity: np.ndarray, bounds: np.ndarray, k_max: int,
                         draws: np.ndarray) -> tuple[np.ndarray, int]:
    """``(m, n_failed)``: float64 ``(n_boot,)`` MR branching ratios (offset fit, spec/12) of the segment
    resamples ``draws`` (int ``(n_boot, k)``, segment indices, repeats allowed), all fitted in one batch from
    the per-segment moments; NaN where a resample has a lag without pairs or variance.

    Equal to :func:`branching_statistic` row by row: a resample is a weight per segment (its count).
    """
    moments = window_moments(activity, as_bounds(bounds, np.asarray(activity).size), k_max)
    chosen = np.atleast_2d(np.asarray(draws, dtype=np.int64))
    weights = np.zeros((chosen.shape[0], moments.n_segments))
    np.add.at(weights, (np.repeat(np.arange(chosen.shape[0]), chosen.shape[1]), chosen.ravel()), 1.0)
    m = fit_offset_exponential(np.arange(1, k_max + 1), pooled_slopes(moments, weights)).m
    return m, int(np.count_nonzero(np.isnan(m)))


def branching_statistic(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> Callable[[np.ndarray], float]:
    """``segments (k,) -> m``: the MR branching ratio (offset fit) of the chosen segments of ``activity`` (a
    block resample over independent text windows, as :func:`segment_resample` concatenates them); raises
    ValueError where a lag of the resample has no pairs or no variance."""

    def statistic(segments: np.ndarray) -> float:
        m, failed = branching_replicates(activity, bounds, k_max, np.asarray(segments)[None, :])
        if failed:
            raise ValueError("a lag of the resample has too few pairs or no variance")
        return float(m[0])

    return statistic


def branching_interval(activity: np.ndarray, bounds: np.ndarray, k_max: int, *, n_boot: int,
                       rng: np.random.Generator, confidence: float = 0.95) -> Interval:
    """Block bootstrap of the MR branching ratio ``m`` over the segments (independent text windows).

    A resample is :func:`segment_resample` of ``n_segments`` segments drawn with replacement;
    :func:`~..metrics.branching.mr_branching_ratio` failures (too few pairs, constant activity, no
    convergence) count in ``n_failed``.
    """
    edges = as_bounds(bounds, np.asarray(activity).size)
    return bootstrap_interval(branching_statistic(activity, edges, k_max), edges.size - 1, n_boot=n_boot, rng=rng,
                              confidence=confidence)


def exponent_statistic(values: np.ndarray, min_tail: int) -> Callable[[np.ndarray], float]:
    """``indices -> alpha``: the power-law exponent of the chosen avalanche ``values`` (sizes or durations),
    ``xmin`` scanned anew by :func:`~..metrics.stats.fit_discrete_power_law`."""
    data = np.asarray(values)

    def statistic(indices: np.ndarray) -> float:
        return fit_discrete_power_law(data[indices], min_tail=min_tail).alpha

    return statistic


def exponent_interval(values: np.ndarray, *, min_tail: int, n_boot: int, rng: np.random.Generator,
                      confidence: float = 0.95) -> Interval:
    """iid bootstrap over avalanches of the power-law exponent ``alpha`` of ``values`` (sizes or durations, ``(n,)``).

    Each resample is refitted with ``xmin`` scanned anew, so the interval includes the uncertainty of
    ``xmin`` (Clauset, Shalizi & Newman 2009, sec. 3.5).
    """
    return bootstrap_interval(exponent_statistic(values, min_tail), np.asarray(values).size, n_boot=n_boot, rng=rng,
                              confidence=confidence)


def _finite_vector(name: str, values: np.ndarray) -> np.ndarray:
    """float64 copy of a non-empty 1-D array of finite numbers (bool allowed)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"{name} must be a non-empty 1-D numeric array, got {array.dtype} of shape {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def mean_statistic(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """``indices -> mean``: e.g. per-item correctness (0/1) to accuracy."""
    data = _finite_vector("values", values)
    return lambda indices: float(data[indices].mean())


def mean_interval(values: np.ndarray, *, n_boot: int, rng: np.random.Generator, confidence: float = 0.95) -> Interval:
    """iid bootstrap of the mean of ``values (n,)``, e.g. per-item correctness (0/1) for accuracy."""
    return bootstrap_interval(mean_statistic(values), np.asarray(values).size, n_boot=n_boot, rng=rng,
                              confidence=confidence)


def ratio_statistic(numerators: np.ndarray, denominators: np.ndarray,
                    transform: Callable[[float], float] | None = None) -> Callable[[np.ndarray], float]:
    """``indices -> transform(sum(numerators) / sum(denominators))`` over the chosen units, both ``(n,)``;
    a resample whose denominators sum to zero raises ValueError (a failed resample)."""
    top = _finite_vector("numerators", numerators)
    bottom = _finite_vector("denominators", denominators)
    if top.size != bottom.size:
        raise ValueError(f"numerators and denominators differ in length: {top.size} and {bottom.size}")

    def statistic(indices: np.ndarray) -> float:
        total = bottom[indices].sum()
        if total == 0.0:
            raise ValueError("the denominators of the resample sum to zero")
        ratio = float(top[indices].sum() / total)
        return ratio if transform is None else float(transform(ratio))

    return statistic


def ratio_interval(numerators: np.ndarray, denominators: np.ndarray, *, n_boot: int, rng: np.random.Generator,
                   transform: Callable[[float], float] | None = None, confidence: float = 0.95) -> Interval:
    """iid bootstrap over units of ``transform(sum(numerators) / sum(denominators))``, both ``(n,)``.

    E.g. per-window NLL sums (nats) and token counts with ``transform=np.exp``: perplexity. ``transform``
    (default identity) should be monotone, for a percentile interval then transforms with the statistic.
    """
    return bootstrap_interval(ratio_statistic(numerators, denominators, transform), np.asarray(numerators).size,
                              n_boot=n_boot, rng=rng, confidence=confidence)


def _rank_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho along the last axis of ``x, y (..., n)``: Pearson correlation of average ranks; NaN where
    a row is constant."""
    constant = (np.ptp(x, axis=-1) == 0) | (np.ptp(y, axis=-1) == 0)
    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    scale = np.sqrt(np.sum(rx**2, axis=-1) * np.sum(ry**2, axis=-1))
    return np.divide(np.sum(rx * ry, axis=-1), scale, out=np.full(scale.shape, np.nan), where=~constant)


def _permutation_p(x: np.ndarray, y: np.ndarray, rho: float) -> float:
    """Fraction of orderings of ``y`` (identity included) whose |rho| reaches the observed ``|rho|``.

    All ``n!`` orderings when ``n <= EXACT_PERMUTATION_MAX_N``, else the identity and
    ``N_RANDOM_PERMUTATIONS`` uniform random orderings from ``default_rng(PERMUTATION_SEED)``.
    """
    n = x.size
    if n <= EXACT_PERMUTATION_MAX_N:
        orders = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    else:
        shuffled = np.random.default_rng(PERMUTATION_SEED).permuted(np.tile(np.arange(n), (N_RANDOM_PERMUTATIONS, 1)),
                                                                    axis=1)
        orders = np.vstack((np.arange(n), shuffled))
    permuted = _rank_correlations(np.broadcast_to(x, orders.shape), y[orders])
    return float(np.mean(np.abs(permuted) >= abs(rho) - _RHO_TOLERANCE))


def _finite_or_nan(name: str, values: np.ndarray, ndim: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != ndim or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be a {ndim}-D numeric array, got {array.dtype} of shape {array.shape}")
    array = array.astype(np.float64)
    if np.any(np.isinf(array)):
        raise ValueError(f"{name} holds infinite values")
    return array


def spearman_association(x: np.ndarray, y: np.ndarray, x_boot: np.ndarray, y_boot: np.ndarray,
                         confidence: float = 0.95) -> Association:
    """Spearman association of ``x (n,)`` and ``y (n,)`` across gains, with a paired-bootstrap interval.

    ``x_boot, y_boot`` (``(n_boot, n)``) are the caller's bootstrap replicates of the per-gain
    statistics, row ``b`` of both from resample ``b``. ``rho`` is computed per row; rows holding NaN or
    constant in ``x`` or ``y`` are ignored, and when over half are, ``low, high`` are NaN. The
    permutation p-value is two-sided (:func:`_permutation_p`); it is exact for ``n <= 8``.
    """
    xs, ys = _finite_vector("x", x), _finite_vector("y", y)
    if xs.size != ys.size or xs.size < 2:
        raise ValueError(f"x and y must be of one length >= 2, got {xs.size} and {ys.size}")
    xb, yb = _finite_or_nan("x_boot", x_boot, 2), _finite_or_nan("y_boot", y_boot, 2)
    if xb.shape != yb.shape or xb.shape[0] == 0 or xb.shape[1] != xs.size:
        raise ValueError(f"x_boot and y_boot must both be (n_boot >= 1, {xs.size}), got {xb.shape} and {yb.shape}")
    rho = float(_rank_correlations(xs, ys))
    p = math.nan if math.isnan(rho) else _permutation_p(xs, ys, rho)
    complete = ~(np.isnan(xb).any(axis=1) | np.isnan(yb).any(axis=1))
    replicates = np.full(xb.shape[0], np.nan)
    replicates[complete] = _rank_correlations(xb[complete], yb[complete])
    valid = ~np.isnan(replicates)
    low, high = _percentiles(replicates[valid], int(np.sum(~valid)), confidence)
    return Association(rho=rho, low=low, high=high, p_permutation=p, n=int(xs.size))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    With the ``m`` non-NaN p-values sorted ascending, ``p_(i)`` becomes ``min(1, max_{j <= i} (m - j + 1) p_(j))``
    (1-based), so the adjusted values keep the order of the raw ones. NaN entries stay NaN and do not count in ``m``.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    present = np.flatnonzero(~np.isnan(p))
    if np.any((p[present] < 0) | (p[present] > 1)):
        raise ValueError("p-values must lie in [0, 1] (or be NaN)")
    order = present[np.argsort(p[present], kind="stable")]
    m = order.size
    adjusted = p.copy()
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return [float(value) for value in adjusted]
