"""Branching ratio of an activity series: the conventional estimator and the multistep-regression (MR) one.

``activity`` is ``(T,)`` (counts per time bin, int or float); ``bounds`` (int64, ``(n_segments + 1,)``,
``bounds[0] = 0``, ``bounds[-1] = T``) cuts the time axis into segments, and no pair of bins used by an
estimator crosses a segment boundary. Reference: Wilting & Priesemann (2018), Nat. Commun. 9, 2325.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..raster.build import as_bounds

__all__ = ["BranchingEstimates", "MRResult", "branching_estimates", "conventional_branching_ratio", "lagged_regression_slopes", "mr_branching_ratio",
           "segment_pairs"]

MIN_PAIRS = 10
"""Fewest in-segment pairs a lag needs for its regression slope."""


@dataclass(frozen=True)
class MRResult:
    """MR fit ``r_k = b * m**k`` over ``lags`` (int64, ``(k_max,)`` = 1..k_max) of the slopes ``r_k`` (float64).

    ``m`` is the branching ratio, ``b`` the subsampling factor (1 without subsampling), ``m_stderr``
    the standard error of ``m`` from the fit's covariance (NaN when it cannot be estimated). The
    ``r_k`` of neighbouring lags share their data, so ``m_stderr`` understates the sampling error of ``m``.
    """

    m: float
    b: float
    m_stderr: float
    lags: np.ndarray
    r_k: np.ndarray


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


class _PairMoments:
    """Sums over the in-segment pairs ``(t, t + lag)`` from prefix sums: O(T) per lag, no index arrays.

    The series is centred on its global mean first, so the moment differences below do not cancel.
    """

    def __init__(self, series: np.ndarray, bounds: np.ndarray) -> None:
        self.centred = series - series.mean()
        self.starts, self.ends = bounds[:-1], bounds[1:]
        self.sum = np.concatenate(([0.0], np.cumsum(self.centred)))
        self.sum_sq = np.concatenate(([0.0], np.cumsum(self.centred**2)))

    def slope(self, lag: int) -> float:
        """Least-squares slope of ``A(t + lag)`` on ``A(t)``, ``lag >= 1``, means taken over the pair set."""
        keep = self.ends - self.starts > lag
        s, e = self.starts[keep], self.ends[keep]
        n_pairs = int(np.sum(e - s - lag))
        if n_pairs < MIN_PAIRS:
            raise ValueError(f"lag {lag} has {n_pairs} in-segment pairs; the regression needs at least {MIN_PAIRS}")
        products = np.concatenate(([0.0], np.cumsum(self.centred[:-lag] * self.centred[lag:])))
        mean_x = np.sum(self.sum[e - lag] - self.sum[s]) / n_pairs
        mean_y = np.sum(self.sum[e] - self.sum[s + lag]) / n_pairs
        mean_xx = np.sum(self.sum_sq[e - lag] - self.sum_sq[s]) / n_pairs
        mean_xy = np.sum(products[e - lag] - products[s]) / n_pairs
        variance = mean_xx - mean_x**2
        if variance <= 1e-12 * mean_xx:
            raise ValueError(f"activity has zero variance over the in-segment pairs at lag {lag}: no slope exists")
        return float((mean_xy - mean_x * mean_y) / variance)


def lagged_regression_slopes(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> np.ndarray:
    """float64 ``(k_max,)``: ``r_k = Cov(A(t), A(t+k)) / Var(A(t))`` for k = 1..k_max, pooled over the segments.

    For each lag the pairs are every ``(t, t + k)`` inside one segment; the two means and the variance
    are those of ``A(t)`` and ``A(t + k)`` over that pair set (all segments pooled), i.e. ``r_k`` is the
    least-squares slope of ``A(t + k)`` on ``A(t)``. For segments of equal length this is mrestimator's
    ``'stationarymean'`` method; its ``'trialseparated'`` method would instead average per-segment
    slopes, which is biased for short segments.
    """
    if int(k_max) != k_max or k_max < 1:
        raise ValueError(f"k_max must be an integer >= 1, got {k_max}")
    moments = _PairMoments(*_activity(activity, bounds))
    return np.array([moments.slope(lag) for lag in range(1, int(k_max) + 1)])


def conventional_branching_ratio(activity: np.ndarray, bounds: np.ndarray) -> float:
    """The conventional estimator ``r_1``: slope of ``A(t+1)`` on ``A(t)`` over in-segment pairs.

    Under binomial subsampling it estimates ``b * m`` rather than ``m`` (Wilting & Priesemann 2018).
    """
    return _PairMoments(*_activity(activity, bounds)).slope(1)


def _exponential(k: np.ndarray, b: float, m: float) -> np.ndarray:
    return b * m**k


def _exponential_jacobian(k: np.ndarray, b: float, m: float) -> np.ndarray:
    return np.column_stack((m**k, b * k * m ** (k - 1)))


def _start(lags: np.ndarray, r_k: np.ndarray) -> tuple[float, float]:
    """Deterministic start ``(b0, m0)``: a line through ``log r_k`` over the leading positive slopes."""
    positive = np.cumprod(r_k > 0).astype(bool)
    if positive.sum() < 2:
        return float(r_k[0]), 0.5
    slope, intercept = np.polyfit(lags[positive], np.log(r_k[positive]), 1)
    return float(np.exp(intercept)), float(np.clip(np.exp(slope), 1e-3, 2.0))


def mr_branching_ratio(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> MRResult:
    """MR estimator: ``r_k`` from :func:`lagged_regression_slopes`, then ``r_k = b * m**k`` fitted by
    unweighted nonlinear least squares (``scipy.optimize.curve_fit``, Levenberg-Marquardt, analytic
    Jacobian) from the start of :func:`_start`. ``m_stderr = sqrt(cov[m, m])`` with the residual-scaled
    covariance. Needs ``k_max >= 3``; raises ValueError on constant activity, too few pairs, or a fit that
    does not converge. Without temporal correlation (``b`` near 0) ``m`` is not identified: ``m_stderr`` is large.
    """
    if int(k_max) != k_max or k_max < 3:
        raise ValueError(f"k_max must be an integer >= 3 (two parameters are fitted), got {k_max}")
    r_k = lagged_regression_slopes(activity, bounds, int(k_max))
    lags = np.arange(1, int(k_max) + 1, dtype=np.int64)
    with warnings.catch_warnings():
        # A singular covariance only makes the error NaN; the estimate itself stands.
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            (b, m), covariance = curve_fit(_exponential, lags.astype(np.float64), r_k, p0=_start(lags, r_k),
                                           jac=_exponential_jacobian, method="lm", maxfev=10_000)
        except RuntimeError as error:  # no convergence: as unusable as constant activity
            raise ValueError(f"the fit r_k = b * m**k did not converge: {error}") from error
    variance = covariance[1, 1]
    m_stderr = float(np.sqrt(variance)) if np.isfinite(variance) and variance >= 0 else float("nan")
    return MRResult(m=float(m), b=float(b), m_stderr=m_stderr, lags=lags, r_k=r_k)


@dataclass(frozen=True)
class BranchingEstimates:
    """Both estimators of one series; NaN where the series admits no estimate (silent, constant, too short)."""

    m_conventional: float
    m_mr: float
    b_mr: float
    m_mr_stderr: float


def branching_estimates(activity: np.ndarray, bounds: np.ndarray, k_max: int) -> BranchingEstimates:
    """The conventional r_1 and the MR fit of ``activity``, NaN for a series without an estimate."""
    try:
        mr = mr_branching_ratio(activity, bounds, k_max)
        return BranchingEstimates(conventional_branching_ratio(activity, bounds), mr.m, mr.b, mr.m_stderr)
    except ValueError:
        return BranchingEstimates(math.nan, math.nan, math.nan, math.nan)
