"""Branching ratio of an activity series: the conventional estimator and the multistep-regression (MR)
estimator with an offset, checked for whether the data determine it.

``activity`` is ``(T,)`` (counts per time bin, int or float); ``bounds`` (int64, ``(n_segments + 1,)``,
``bounds[0] = 0``, ``bounds[-1] = T``) cuts the time axis into segments (analysis windows), and no pair of
bins used by an estimator crosses a segment boundary. References: Wilting & Priesemann (2018), Nat.
Commun. 9, 2325 (MR); Spitzner et al. (2021), PLoS ONE 16, e0249447 (mrestimator, its offset fit).

Why an offset (spec/12): windows that differ in mean activity add the between-window variance to the
covariance at every lag, so the pooled slopes are ``r_k = b * m**k + c`` with ``c`` the between-window
share of the variance. A fit without ``c`` absorbs it by pushing m towards 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import f as f_distribution

from ..raster.build import as_bounds
from .mr_fit import M_MAX, M_MIN, fit_offset_exponential

__all__ = ["BranchingEstimates", "FIT_CHECKS", "MRResult", "WindowMoments", "branching_estimates",
           "conventional_branching_ratio", "fit_status", "lagged_regression_slopes", "mr_branching_ratio",
           "pooled_slopes", "segment_pairs", "window_moments"]

MIN_PAIRS = 10
"""Fewest in-segment pairs a lag needs for its regression slope."""
MIN_WINDOWS = 4
"""Fewest segments for the jackknife standard errors; with fewer the fit is ``m_undetermined``."""
MAX_M_STDERR = 0.1
"""Largest jackknife standard error of m for which the fit determines m."""
MAX_OFFSET_RATIO = 3.0
"""Largest |c| / b: beyond it the lag-independent part of the variance is over three times the decaying one."""
MAX_P_DECAY = 0.05
"""Largest p-value of the F-test of ``b * m**k + c`` against ``c`` alone for which the decay is real."""
_BOUND_MARGIN = 5e-3
"""An m within this of M_MIN or M_MAX is at the bound of the search."""
FIT_CHECKS = ("b_not_significant", "m_at_bound", "m_undetermined", "offset_dominates", "no_decay")
"""Every way an MR fit can fail (spec/12): the ``status`` of a fit is ``ok`` or these, joined by ``;``."""


def segment_pairs(bounds: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 index arrays ``(t, t + lag)`` of every pair of bins ``lag >= 0`` apart inside one segment.

    ``t`` is ascending; a segment shorter than ``lag + 1`` bins contributes no pair.
    """
    edges = as_bounds(bounds)
    if int(lag) != lag or lag < 0:
        raise ValueError(f"lag must be an integer >= 0, got {lag}")
    lag = int(lag)
    counts = np.maximum(np.diff(edges) - lag, 0)
    offsets = np.cumsum(counts) - counts
    first = np.arange(counts.sum(), dtype=np.int64) - np.repeat(offsets, counts)
    t = np.repeat(edges[:-1], counts) + first
    return t, t + lag


def _activity(activity: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 activity and validated bounds that end at its length."""
    series = np.asarray(activity)
    if series.ndim != 1 or not (np.issubdtype(series.dtype, np.integer) or np.issubdtype(series.dtype, np.floating)):
        raise ValueError(f"activity must be a 1-D numeric (T,) array, got {series.dtype} of shape {series.shape}")
    series = series.astype(np.float64)
    if not np.all(np.isfinite(series)):
        raise ValueError("activity holds NaN or infinite values")
    return series, as_bounds(bounds, series.size)


@dataclass(frozen=True)
class WindowMoments:
    """Per-segment sums over its pairs ``(t, t + k)``, k = 1..K, of the series centred on its global mean.

    Every field is float64 ``(n_segments, K)``: ``n`` pairs, ``x`` = sum A(t), ``y`` = sum A(t + k),
    ``xx`` = sum A(t)^2, ``xy`` = sum A(t) A(t + k). Sums are additive over segments, so the slopes of any
    multiset of segments (a bootstrap or jackknife resample) are a weighted sum of rows (:func:`pooled_slopes`).
    """

    n: np.ndarray
    x: np.ndarray
    y: np.ndarray
    xx: np.ndarray
    xy: np.ndarray

    @property
    def n_segments(self) -> int:
        return int(self.n.shape[0])


def window_moments(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> WindowMoments:
    """The :class:`WindowMoments` of ``activity (T,)`` for lags 1..``k_max``, from prefix sums: O(T) per lag."""
    if int(k_max) != k_max or k_max < 1:
        raise ValueError(f"k_max must be an integer >= 1, got {k_max}")
    series, edges = _activity(activity, bounds)
    centred = series - series.mean()
    prefix = np.concatenate(([0.0], np.cumsum(centred)))
    prefix_sq = np.concatenate(([0.0], np.cumsum(centred**2)))
    starts, ends = edges[:-1], edges[1:]
    fields = {name: np.zeros((starts.size, int(k_max))) for name in ("n", "x", "y", "xx", "xy")}
    for index, lag in enumerate(range(1, int(k_max) + 1)):
        keep = ends - starts > lag
        s, e = starts[keep], ends[keep]
        products = np.concatenate(([0.0], np.cumsum(centred[:-lag] * centred[lag:])))
        fields["n"][keep, index] = e - s - lag
        fields["x"][keep, index] = prefix[e - lag] - prefix[s]
        fields["y"][keep, index] = prefix[e] - prefix[s + lag]
        fields["xx"][keep, index] = prefix_sq[e - lag] - prefix_sq[s]
        fields["xy"][keep, index] = products[e - lag] - products[s]
    return WindowMoments(**fields)


def pooled_slopes(moments: WindowMoments, weights: np.ndarray | None = None) -> np.ndarray:
    """float64 ``(n_resamples, K)``: least-squares slope of A(t + k) on A(t) over the pairs of the segments
    taken ``weights`` times (float ``(n_resamples, n_segments)``; default: every segment once, one row).

    The means are those of the pair set pooled over the chosen segments (mrestimator's ``stationarymean``
    for equal segments). NaN where a lag has fewer than MIN_PAIRS pairs or no variance.
    """
    w = np.ones((1, moments.n_segments)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    return _slopes(*(w @ getattr(moments, name) for name in ("n", "x", "y", "xx", "xy")))


def _leave_one_out_slopes(moments: WindowMoments) -> np.ndarray:
    """float64 ``(n_segments, K)``: the pooled slopes without segment s, row s (the jackknife resamples)."""
    return _slopes(*(getattr(moments, name).sum(axis=0) - getattr(moments, name)
                     for name in ("n", "x", "y", "xx", "xy")))


def _slopes(n: np.ndarray, x: np.ndarray, y: np.ndarray, xx: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Slopes from pooled pair sums (any matching shapes); NaN with fewer than MIN_PAIRS pairs or no variance."""
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = xx - x**2 / n
        slope = (xy - x * y / n) / variance
    usable = (n >= MIN_PAIRS) & (variance > 1e-12 * np.abs(xx))
    return np.where(usable, slope, np.nan)


def lagged_regression_slopes(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> np.ndarray:
    """float64 ``(k_max,)``: ``r_k`` of :func:`pooled_slopes` over every segment; raises ValueError on a lag
    with fewer than MIN_PAIRS in-segment pairs or with zero variance of A(t) over its pairs."""
    return _checked_slopes(window_moments(activity, bounds, k_max))


def _checked_slopes(moments: WindowMoments) -> np.ndarray:
    """The pooled slopes of every segment, ``(K,)``; ValueError where a lag has none (see above)."""
    slopes = pooled_slopes(moments)[0]
    pairs = moments.n.sum(axis=0)
    if np.any(pairs < MIN_PAIRS):
        lag = int(np.argmax(pairs < MIN_PAIRS)) + 1
        raise ValueError(f"lag {lag} has {int(pairs[lag - 1])} in-segment pairs; the regression needs at least "
                         f"{MIN_PAIRS}")
    if np.any(np.isnan(slopes)):
        lag = int(np.argmax(np.isnan(slopes))) + 1
        raise ValueError(f"activity has zero variance over the in-segment pairs at lag {lag}: no slope exists")
    return slopes


def conventional_branching_ratio(activity: np.ndarray, bounds: np.ndarray) -> float:
    """The conventional estimator ``r_1``: slope of ``A(t+1)`` on ``A(t)`` over in-segment pairs.

    Under binomial subsampling it estimates ``b * m`` rather than ``m`` (Wilting & Priesemann 2018), and
    with windows of different mean activity ``b * m + c``.
    """
    return float(lagged_regression_slopes(activity, bounds, 1)[0])


@dataclass(frozen=True)
class MRResult:
    """MR fit ``r_k = b * m**k + c`` over ``lags`` (int64 ``(K,)`` = 1..K) of the pooled slopes ``r_k``.

    ``m`` is the branching ratio per time bin, ``b`` the amplitude of the decaying part (the subsampling
    factor, times the within-window share of the variance), ``c`` the offset (the between-window share).
    The standard errors are delete-one-segment jackknife errors (segments are the independent units);
    NaN with fewer than MIN_WINDOWS segments. ``p_decay`` is the F-test p-value of the fit against the
    offset alone. ``status`` is ``ok`` or the failed checks of :data:`FIT_CHECKS` joined by ``;``.
    """

    m: float
    b: float
    c: float
    m_stderr: float
    b_stderr: float
    c_stderr: float
    p_decay: float
    status: str
    lags: np.ndarray
    r_k: np.ndarray

    @property
    def valid(self) -> bool:
        """Whether the fit passed every check: only then does m say anything about propagation."""
        return self.status == "ok"


def fit_status(m: float, b: float, c: float, m_stderr: float, b_stderr: float, p_decay: float) -> str:
    """``ok``, or the failed checks (:data:`FIT_CHECKS`, in that order) joined by ``;``.

    - ``b_not_significant``: not b > 2 standard errors (b <= 0, or a decaying part at noise level);
    - ``m_at_bound``: m within 0.005 of the searched range [M_MIN, M_MAX] (the data do not bound it);
    - ``m_undetermined``: the standard error of m is NaN or above MAX_M_STDERR;
    - ``offset_dominates``: |c| > MAX_OFFSET_RATIO * b, the lag-independent part (windows of different
      rates, or a trend) swamps the decaying one;
    - ``no_decay``: the exponential is no better than the offset alone (F-test p > MAX_P_DECAY).
    """
    failed = []
    if not (b > 2.0 * b_stderr):
        failed.append("b_not_significant")
    if not (M_MIN + _BOUND_MARGIN < m < M_MAX - _BOUND_MARGIN):
        failed.append("m_at_bound")
    if not (m_stderr <= MAX_M_STDERR):
        failed.append("m_undetermined")
    if not (abs(c) <= MAX_OFFSET_RATIO * b):
        failed.append("offset_dominates")
    if not (p_decay <= MAX_P_DECAY):
        failed.append("no_decay")
    return ";".join(failed) if failed else "ok"


def _jackknife_stderr(values: np.ndarray) -> float:
    """Delete-one jackknife standard error from the ``(n,)`` leave-one-out estimates (NaN if any is NaN)."""
    n = values.size
    return float(math.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))


def mr_branching_ratio(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> MRResult:
    """MR estimator with offset: ``r_k`` from :func:`lagged_regression_slopes`, then ``r_k = b * m**k + c``
    fitted by :func:`~.mr_fit.fit_offset_exponential` (unweighted least squares, m in [M_MIN, M_MAX]),
    jackknife standard errors over the segments, and the checks of :func:`fit_status`.

    Needs ``k_max >= 4`` (three parameters, and a residual degree of freedom for the F-test); raises
    ValueError on constant activity or too few pairs. A fit that fails a check is returned, not raised:
    its ``status`` says why.
    """
    if int(k_max) != k_max or k_max < 4:
        raise ValueError(f"k_max must be an integer >= 4 (three parameters are fitted), got {k_max}")
    k_max = int(k_max)
    moments = window_moments(activity, bounds, k_max)
    r_k = _checked_slopes(moments)
    lags = np.arange(1, k_max + 1, dtype=np.int64)
    fit = fit_offset_exponential(lags, r_k[None, :])
    m, b, c, rss, rss_offset = (float(getattr(fit, name)[0]) for name in ("m", "b", "c", "rss", "rss_offset"))
    dof = k_max - 3
    if rss > 0:
        statistic = ((rss_offset - rss) / 2.0) / (rss / dof)
        p_decay = float(f_distribution.sf(statistic, 2, dof))
    else:
        p_decay = 0.0 if rss_offset > 0 else 1.0
    stderr = {"m": math.nan, "b": math.nan, "c": math.nan}
    if moments.n_segments >= MIN_WINDOWS:
        jack = fit_offset_exponential(lags, _leave_one_out_slopes(moments))
        stderr = {name: _jackknife_stderr(getattr(jack, name)) for name in stderr}
    status = fit_status(m, b, c, stderr["m"], stderr["b"], p_decay)
    return MRResult(m=m, b=b, c=c, m_stderr=stderr["m"], b_stderr=stderr["b"], c_stderr=stderr["c"],
                    p_decay=p_decay, status=status, lags=lags, r_k=r_k)


@dataclass(frozen=True)
class BranchingEstimates:
    """Both estimators of one series; NaN where the series admits no estimate (silent, constant, too short),
    and then ``fit_status`` is ``no_estimate``."""

    m_conventional: float
    m_mr: float
    b_mr: float
    c_mr: float
    m_mr_stderr: float
    b_mr_stderr: float
    fit_status: str


def branching_estimates(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> BranchingEstimates:
    """The conventional r_1 and the MR fit of ``activity`` with its checks; NaN for a series without an estimate."""
    try:
        mr = mr_branching_ratio(activity, bounds, k_max)
    except ValueError:
        return BranchingEstimates(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, "no_estimate")
    return BranchingEstimates(float(mr.r_k[0]), mr.m, mr.b, mr.c, mr.m_stderr, mr.b_stderr, mr.status)
