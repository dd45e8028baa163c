"""Branching ratios: MR recovers m of a driven branching process under subsampling; the conventional
estimator shows the bias Wilting & Priesemann (2018) predict; pooled slopes agree with mrestimator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from avalanche_llm.metrics.branching import (
    conventional_branching_ratio,
    lagged_regression_slopes,
    mr_branching_ratio,
    segment_pairs,
)

from .synthetic_processes import binomial_subsample, driven_branching_process

K_MAX = {0.9: 40, 0.98: 150}  # a few autocorrelation times, -1 / log(m)


@pytest.fixture(scope="module")
def observed() -> dict[tuple[float, float], tuple[np.ndarray, np.ndarray]]:
    """``(m, p) -> (activity, bounds)``: 20 chains of 20,000 steps at m, seen through p-subsampling."""
    series = {}
    for seed, m in enumerate((0.9, 0.98)):
        rng = np.random.default_rng(100 + seed)
        activity, bounds = driven_branching_process(m, 10.0, 20_000, 20, rng)
        for p in (1.0, 0.1, 0.01):
            series[m, p] = (activity if p == 1.0 else binomial_subsample(activity, p, rng), bounds)
    return series


def subsampling_factor(m: float, p: float) -> float:
    """``b = p^2 Var(A) / Var(a)`` for Poisson offspring and drive: ``Var(A) = <A> / (1 - m^2)``."""
    return p / (p + (1.0 - p) * (1.0 - m * m))


def test_segment_pairs_stay_inside_segments() -> None:
    bounds = np.array([0, 3, 7, 8])
    t, t_lag = segment_pairs(bounds, 2)
    assert t.tolist() == [0, 3, 4] and t_lag.tolist() == [2, 5, 6]
    assert t.dtype == np.int64 and t_lag.dtype == np.int64
    t, t_lag = segment_pairs(bounds, 0)
    assert t.tolist() == list(range(8)) and t_lag.tolist() == list(range(8))
    t, t_lag = segment_pairs(bounds, 4)
    assert t.size == 0 and t_lag.size == 0


@pytest.mark.parametrize("m", [0.9, 0.98])
@pytest.mark.parametrize("p", [1.0, 0.1, 0.01])
def test_mr_recovers_m_under_subsampling(observed, m: float, p: float) -> None:
    activity, bounds = observed[m, p]
    result = mr_branching_ratio(activity, bounds, K_MAX[m])
    assert abs(result.m - m) <= 0.02
    assert abs(result.b - subsampling_factor(m, p)) <= 0.03
    assert result.lags.tolist() == list(range(1, K_MAX[m] + 1))
    assert result.r_k.shape == (K_MAX[m],) and 0.0 < result.m_stderr < 0.02


@pytest.mark.parametrize("m", [0.9, 0.98])
@pytest.mark.parametrize("p", [1.0, 0.1, 0.01])
def test_conventional_estimator_is_b_times_m(observed, m: float, p: float) -> None:
    activity, bounds = observed[m, p]
    result = mr_branching_ratio(activity, bounds, K_MAX[m])
    r_1 = conventional_branching_ratio(activity, bounds)
    assert r_1 == result.r_k[0]
    assert abs(r_1 - result.b * result.m) <= 0.02
    if p == 1.0:
        assert abs(r_1 - m) <= 0.02
    if p == 0.01:  # the 1% view of the process looks far from critical to the conventional estimator
        assert r_1 < 0.25 and r_1 < m - 0.7


def test_pooled_slopes_are_least_squares_over_in_segment_pairs() -> None:
    """The prefix-sum path equals a direct regression over the pairs of ``segment_pairs``, on unequal segments."""
    rng = np.random.default_rng(7)
    activity = rng.gamma(2.0, 3.0, size=997)
    bounds = np.array([0, 100, 101, 400, 997])
    slopes = lagged_regression_slopes(activity, bounds, 12)
    for lag, slope in enumerate(slopes, start=1):
        t, t_lag = segment_pairs(bounds, lag)
        assert slope == pytest.approx(np.polyfit(activity[t], activity[t_lag], 1)[0], abs=1e-12)


def test_pairs_never_cross_segments() -> None:
    """Inside each segment the series alternates (r_1 = -1); only the pair across the junction is (2, 2)."""
    activity = np.concatenate((np.tile([1.0, 2.0], 50), np.tile([2.0, 1.0], 50)))
    assert conventional_branching_ratio(activity, np.array([0, 100, 200])) == pytest.approx(-1.0, abs=1e-12)
    assert conventional_branching_ratio(activity, np.array([0, 200])) == pytest.approx(-0.99, abs=1e-9)


def test_matches_mrestimator_stationary_mean(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # whatever mrestimator writes lands in the temp dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import mrestimator as mre
    rng = np.random.default_rng(11)
    activity, bounds = driven_branching_process(0.95, 10.0, 5_000, 8, rng)
    sampled = binomial_subsample(activity, 0.05, rng)
    ours = mr_branching_ratio(sampled, bounds, 30)
    theirs = mre.coefficients(sampled.reshape(8, 5_000).astype(np.float64), method="stationarymean", steps=(1, 30),
                              numboot=0)
    np.testing.assert_allclose(ours.r_k, theirs.coefficients, rtol=0, atol=1e-6)
    fit = mre.fit(theirs, fitfunc="exponential", numboot=0)
    assert ours.m == pytest.approx(fit.mre, abs=1e-4)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("activity", "bounds", "k_max", "message"),
    [
        (np.full(100, 3), np.array([0, 100]), 5, "zero variance"),
        (np.arange(30.0), np.array([0, 6, 12, 18, 24, 30]), 5, "in-segment pairs"),
        (np.arange(50.0), np.array([0, 50]), 2, "k_max"),
        (np.arange(50.0), np.array([0, 40]), 5, "bounds end"),
        (np.array([1.0, np.nan] * 25), np.array([0, 50]), 5, "NaN"),
        (np.ones((5, 10)), np.array([0, 10]), 5, "1-D"),
    ],
)
def test_bad_input_raises(activity: np.ndarray, bounds: np.ndarray, k_max: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mr_branching_ratio(activity, bounds, k_max)


def test_conventional_estimator_needs_variance() -> None:
    with pytest.raises(ValueError, match="zero variance"):
        conventional_branching_ratio(np.zeros(50), np.array([0, 50]))
