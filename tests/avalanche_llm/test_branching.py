"""Branching ratios: the MR estimator with offset recovers m of driven branching processes, stationary and
with windows of different rates, under subsampling, and flags the fits the data do not determine; the
conventional estimator shows the bias Wilting & Priesemann (2018) predict; slopes and fits agree with
mrestimator where the two methods coincide."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from avalanche_llm.metrics.branching import (
    MAX_M_STDERR,
    _leave_one_out_slopes,
    conventional_branching_ratio,
    fit_status,
    lagged_regression_slopes,
    mr_branching_ratio,
    pooled_slopes,
    segment_pairs,
    window_moments,
)
from avalanche_llm.metrics.mr_fit import M_MAX, M_MIN, fit_offset_exponential

from avalanche_llm.metrics.synthetic import binomial_subsample, driven_branching_process

K_MAX = {0.0: 10, 0.5: 12, 0.9: 40, 0.98: 150}  # a few autocorrelation times, -1 / log(m)
PLANTED_M = (0.0, 0.5, 0.9, 0.98)
SAMPLING = (1.0, 0.1, 0.01)
SPREADS = (0.0, 0.1)  # stationary windows, and window rates with a 10 % relative spread
N_STEPS = {0.0: 20_000, 0.5: 200_000, 0.9: 20_000, 0.98: 20_000}
"""Steps per chain: at m = 0.5 and 10 % sampling b m ~ 0.06, and m to 0.02 takes ~4e6 bins."""


@pytest.fixture(scope="module")
def observed() -> dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray]]:
    """``(m, p, spread) -> (activity, bounds)``: 20 chains of N_STEPS[m] steps at m, each chain's rate spread
    by ``spread``, seen through p-subsampling."""
    series = {}
    for seed, m in enumerate(PLANTED_M):
        for spread in SPREADS:
            rng = np.random.default_rng(100 + 10 * seed + int(spread * 10))
            activity, bounds = driven_branching_process(m, 10.0, N_STEPS[m], 20, rng, rate_spread=spread)
            for p in SAMPLING:
                series[m, p, spread] = (activity if p == 1.0 else binomial_subsample(activity, p, rng), bounds)
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


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("m", [0.5, 0.9, 0.98])
@pytest.mark.parametrize("p", SAMPLING)
def test_mr_recovers_m_under_subsampling_and_rate_heterogeneity(observed, m: float, p: float, spread: float) -> None:
    activity, bounds = observed[m, p, spread]
    result = mr_branching_ratio(activity, bounds, K_MAX[m])
    assert result.lags.tolist() == list(range(1, K_MAX[m] + 1)) and result.r_k.shape == (K_MAX[m],)
    if (m, p) == (0.5, 0.01):  # b ~ 0.013: r_1 ~ 0.007 against a noise of ~0.0005 per lag: m to 0.02 would
        # take ~10x the data, and the estimator says so through its standard error instead of claiming it
        assert 0.02 < result.m_stderr <= MAX_M_STDERR and abs(result.m - m) <= 3 * result.m_stderr
        return
    assert result.status == "ok" and result.valid
    assert abs(result.m - m) <= 0.02
    assert 0.0 < result.m_stderr < 0.01
    if spread == 0.0:  # stationary: no offset, b is the subsampling factor
        assert abs(result.b - subsampling_factor(m, p)) <= 0.03 and abs(result.c) <= 0.03
    else:  # the windows' rates add a positive offset, the between-window share of the variance
        assert result.c > 0.0 and result.c > 2 * result.c_stderr


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("p", SAMPLING)
def test_mr_flags_a_process_without_propagation(observed, p: float, spread: float) -> None:
    """At m = 0 every r_k, k >= 1, is the offset alone: b * m**k is not identified, and the fit must say so
    (the fit without offset read m = 1.000 here at a 10 % spread of window rates)."""
    activity, bounds = observed[0.0, p, spread]
    result = mr_branching_ratio(activity, bounds, K_MAX[0.0])
    assert not result.valid and "b_not_significant" in result.status.split(";")


def test_mr_jackknife_error_matches_the_spread_of_repeats() -> None:
    """The jackknife standard error of m (segments resampled) is the sampling error of m: over 40 independent
    repeats its median is within 30 % of the standard deviation of the estimates."""
    rng = np.random.default_rng(21)
    results = [mr_branching_ratio(*driven_branching_process(0.9, 10.0, 200, 60, rng, rate_spread=0.1), 12)
               for _ in range(40)]
    spread = np.std([result.m for result in results], ddof=1)
    assert np.median([result.m_stderr for result in results]) == pytest.approx(spread, rel=0.3)


def test_offset_fit_is_exact_on_noiseless_curves() -> None:
    lags = np.arange(1, 13)
    truth = np.array([[0.3, 0.8, 0.1], [1.0, 0.5, 0.0], [0.05, 0.97, -0.02], [0.2, 1.2, 0.3]])
    curves = truth[:, :1] * truth[:, 1:2] ** lags + truth[:, 2:]
    fits = fit_offset_exponential(lags, np.vstack((curves, np.full(12, np.nan))))
    np.testing.assert_allclose(fits.b[:4], truth[:, 0], atol=1e-6)
    np.testing.assert_allclose(fits.m[:4], truth[:, 1], atol=1e-7)
    np.testing.assert_allclose(fits.c[:4], truth[:, 2], atol=1e-6)
    assert np.all(fits.rss[:4] < 1e-12) and np.all(np.isnan([fits.m[4], fits.b[4], fits.c[4]]))
    for row in range(4):  # one curve at a time gives the same fit as the batch
        single = fit_offset_exponential(lags, curves[row])
        assert single.m[0] == pytest.approx(fits.m[row], abs=1e-12)
    assert M_MIN <= fits.m[:4].min() and fits.m[:4].max() <= M_MAX


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((0.9, 0.3, 0.1, 0.01, 0.02, 1e-9), "ok"),
        ((0.9, -0.3, 0.1, 0.01, 0.02, 1e-9), "b_not_significant;offset_dominates"),
        ((0.9, 0.03, 0.01, 0.01, 0.02, 1e-9), "b_not_significant"),
        ((M_MIN, 0.3, 0.1, 0.01, 0.02, 1e-9), "m_at_bound"),
        ((M_MAX, 0.3, 0.1, 0.01, 0.02, 1e-9), "m_at_bound"),
        ((0.9, 0.3, 0.1, 0.2, 0.02, 1e-9), "m_undetermined"),
        ((0.9, 0.3, 0.1, math.nan, 0.02, 1e-9), "m_undetermined"),
        ((0.9, 0.3, 1.0, 0.01, 0.02, 1e-9), "offset_dominates"),
        ((0.9, 0.3, 0.1, 0.01, 0.02, 0.2), "no_decay"),
        ((M_MIN, -0.3, 1.0, math.nan, 0.5, 0.9), "b_not_significant;m_at_bound;m_undetermined;offset_dominates;no_decay"),
    ],
)
def test_fit_status_names_every_failed_check(values: tuple[float, ...], expected: str) -> None:
    assert fit_status(*values) == expected


def test_pooled_slopes_of_weighted_segments_equal_the_slopes_of_the_resampled_series() -> None:
    """A bootstrap resample is a weight per segment: its slopes equal those of the concatenated segments."""
    rng = np.random.default_rng(3)
    activity, bounds = driven_branching_process(0.8, 5.0, 300, 7, rng, rate_spread=0.2)
    chosen = np.array([0, 0, 3, 6, 6, 6, 2])
    pieces = [activity[bounds[s]:bounds[s + 1]] for s in chosen]
    resampled_bounds = np.concatenate(([0], np.cumsum([piece.size for piece in pieces])))
    expected = lagged_regression_slopes(np.concatenate(pieces), resampled_bounds, 9)
    weights = np.bincount(chosen, minlength=7)[None, :]
    moments = window_moments(activity, bounds, 9)
    np.testing.assert_allclose(pooled_slopes(moments, weights)[0], expected, atol=1e-12)
    # the jackknife's leave-one-out slopes are the weighted slopes with one segment's weight at 0
    np.testing.assert_allclose(_leave_one_out_slopes(moments), pooled_slopes(moments, 1.0 - np.eye(7)), atol=1e-12)


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("m", [0.9, 0.98])
@pytest.mark.parametrize("p", SAMPLING)
def test_conventional_estimator_is_b_times_m_plus_c(observed, m: float, p: float, spread: float) -> None:
    activity, bounds = observed[m, p, spread]
    result = mr_branching_ratio(activity, bounds, K_MAX[m])
    r_1 = conventional_branching_ratio(activity, bounds)
    assert r_1 == pytest.approx(result.r_k[0], abs=1e-12)
    assert abs(r_1 - (result.b * result.m + result.c)) <= 0.02
    if p == 1.0 and spread == 0.0:
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


@pytest.mark.parametrize("spread", SPREADS)
def test_matches_mrestimator_stationary_mean_and_offset_fit(tmp_path, monkeypatch, spread: float) -> None:
    """Equal segments: our slopes are mrestimator 0.2.0's ``stationarymean`` coefficients, and our fit is its
    ``exponential_offset`` fit (|A| exp(-k / tau) + O, m = exp(-1 / tau)), stationary and heterogeneous."""
    monkeypatch.chdir(tmp_path)  # whatever mrestimator writes lands in the temp dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import mrestimator as mre
    rng = np.random.default_rng(11)
    activity, bounds = driven_branching_process(0.95, 10.0, 5_000, 8, rng, rate_spread=spread)
    sampled = binomial_subsample(activity, 0.05, rng)
    ours = mr_branching_ratio(sampled, bounds, 30)
    theirs = mre.coefficients(sampled.reshape(8, 5_000).astype(np.float64), method="stationarymean", steps=(1, 30),
                              numboot=0)
    np.testing.assert_allclose(ours.r_k, theirs.coefficients, rtol=0, atol=1e-6)
    fit = mre.fit(theirs, fitfunc="exponential_offset", numboot=0)
    assert ours.m == pytest.approx(fit.mre, abs=1e-4)
    assert ours.b == pytest.approx(abs(fit.popt[1]), rel=1e-3) and ours.c == pytest.approx(fit.popt[2], abs=1e-4)
    assert ours.valid and abs(ours.m - 0.95) <= 0.02
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("activity", "bounds", "k_max", "message"),
    [
        (np.full(100, 3), np.array([0, 100]), 5, "zero variance"),
        (np.arange(30.0), np.array([0, 6, 12, 18, 24, 30]), 5, "in-segment pairs"),
        (np.arange(50.0), np.array([0, 50]), 3, "k_max"),
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


@pytest.mark.parametrize(("m", "p", "recovered"), [(0.5, 1.0, True), (0.9, 1.0, True), (0.98, 1.0, False),
                                                   (0.9, 0.01, False)])
def test_in_the_quickstart_window_shape_the_fit_passes_only_where_the_data_determine_m(m: float, p: float,
                                                                                      recovered: bool) -> None:
    """96 windows of 64 bins, K = 8, window rates spread by 10 %: m = 0.5 and 0.9 are recovered within three
    jackknife errors; at m = 0.98 (autocorrelation time ~ a window) and at 1 % sampling the fit fails."""
    rng = np.random.default_rng(int(100 * m + 1000 * p))
    activity, bounds = driven_branching_process(m, 10.0, 64, 96, rng, rate_spread=0.1)
    result = mr_branching_ratio(binomial_subsample(activity, p, rng) if p < 1.0 else activity, bounds, 8)
    assert result.valid == recovered
    if recovered:
        assert abs(result.m - m) <= 3 * result.m_stderr and result.m_stderr < 0.05
