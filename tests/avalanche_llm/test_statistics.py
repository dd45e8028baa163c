"""Phase 7 statistics: bootstrap intervals cover known values at their level, segment resampling is exact,
failures are counted, Spearman/permutation p match brute force and scipy, Holm matches hand-computed values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from avalanche_llm.analysis.statistics import (
    N_RANDOM_PERMUTATIONS,
    Interval,
    bootstrap_interval,
    branching_interval,
    exponent_interval,
    holm_adjust,
    mean_interval,
    percentile_interval,
    ratio_interval,
    replicates,
    segment_resample,
    spearman_association,
)
from avalanche_llm.metrics.branching import mr_branching_ratio
from avalanche_llm.metrics.stats import sample_discrete_power_law

from avalanche_llm.metrics.synthetic import driven_branching_process


def covers(interval: Interval, value: float) -> bool:
    return interval.low <= value <= interval.high


# --- generic bootstrap ---------------------------------------------------------------------------------------------

def test_mean_interval_coverage_of_bernoulli_mean() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        sample = rng.random(200) < 0.3  # per-item correctness, bool
        interval = mean_interval(sample, n_boot=400, rng=rng)
        assert interval.estimate == pytest.approx(sample.mean())
        assert interval.low <= interval.estimate <= interval.high and interval.n_failed == 0
        hits += covers(interval, 0.3)
    assert 0.90 <= hits / 200 <= 0.99


def test_same_generator_state_gives_identical_interval() -> None:
    values = np.random.default_rng(0).normal(size=50)
    first = mean_interval(values, n_boot=300, rng=np.random.default_rng(11))
    again = mean_interval(values, n_boot=300, rng=np.random.default_rng(11))
    other = mean_interval(values, n_boot=300, rng=np.random.default_rng(12))
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)


def test_bootstrap_interval_equals_replicates_of_a_drawn_index_matrix() -> None:
    """Drawing the (n_boot, n_units) matrix at once, as a stage sharing one draw across gains does, gives the
    same resamples as bootstrap_interval's row-by-row draws."""
    values = np.random.default_rng(1).exponential(size=37)

    def median(indices: np.ndarray) -> float:
        return float(np.median(values[indices]))

    draws = np.random.default_rng(3).integers(0, 37, size=(250, 37))
    boot, failed = replicates(median, draws)
    assert boot.shape == (250,) and failed == 0
    np.testing.assert_array_equal(boot, [np.median(values[row]) for row in draws])
    assert percentile_interval(median(np.arange(37)), boot, failed) == bootstrap_interval(
        median, 37, n_boot=250, rng=np.random.default_rng(3))
    with pytest.raises(ValueError, match="n_failed"):
        percentile_interval(1.0, np.array([1.0, np.nan]), 0)


def test_generators_in_one_state_resample_the_same_units() -> None:
    """Two statistics of the same units (say one window set at two gains) are resampled in pairs."""
    a, b = np.arange(30.0), np.arange(30.0) ** 2
    reps = [replicates(lambda i, v=v: v[i].sum(), (rng.integers(0, 30, size=30) for _ in range(20)))[0]
            for v, rng in ((a, np.random.default_rng(3)), (b, np.random.default_rng(3)))]
    draws = np.random.default_rng(3).integers(0, 30, size=(20, 30))
    np.testing.assert_array_equal(np.column_stack(reps), np.column_stack((a[draws].sum(1), b[draws].sum(1))))


def test_failed_resamples_are_counted_and_dropped() -> None:
    n_units, n_boot = 20, 400

    def twice_zero_fails(indices: np.ndarray) -> float:
        if np.count_nonzero(indices == 0) >= 2:
            raise ValueError("unit 0 drawn twice")
        return float(indices.mean())

    def zero_is_nan(indices: np.ndarray) -> float:
        return math.nan if np.any(indices == 0) else float(indices.mean())

    draws = np.random.default_rng(5)
    zeros = np.array([np.count_nonzero(draws.integers(0, n_units, size=n_units) == 0) for _ in range(n_boot)])
    some = bootstrap_interval(twice_zero_fails, n_units, n_boot=n_boot, rng=np.random.default_rng(5))
    assert some.n_failed == np.count_nonzero(zeros >= 2) > 0 and 2 * some.n_failed < n_boot
    assert some.estimate == pytest.approx(9.5) and some.low < 9.5 < some.high
    most = bootstrap_interval(zero_is_nan, n_units, n_boot=n_boot, rng=np.random.default_rng(5))
    assert most.n_failed == np.count_nonzero(zeros >= 1) > n_boot / 2
    assert most.n_boot == n_boot and math.isnan(most.low) and math.isnan(most.high)


def test_invalid_arguments_raise() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_boot"):
        mean_interval(np.ones(3), n_boot=0, rng=rng)
    with pytest.raises(ValueError, match="confidence"):
        mean_interval(np.ones(3), n_boot=10, rng=rng, confidence=1.0)
    with pytest.raises(ValueError, match="NaN"):
        mean_interval(np.array([1.0, np.nan]), n_boot=10, rng=rng)
    with pytest.raises(ValueError, match="length"):
        ratio_interval(np.ones(3), np.ones(4), n_boot=10, rng=rng)


# --- ratio of sums ---------------------------------------------------------------------------------------------------

def test_ratio_interval_gives_perplexity_from_window_sums() -> None:
    """Windows of 20 to 60 tokens with iid per-token NLL of mean 3 nats: perplexity exp(3)."""
    rng = np.random.default_rng(21)
    hits = 0
    for _ in range(100):
        tokens = rng.integers(20, 61, size=80)
        nll = np.array([rng.gamma(4.0, 0.75, size=n).sum() for n in tokens])
        state = rng.bit_generator.state
        perplexity = ratio_interval(nll, tokens, n_boot=300, rng=rng, transform=np.exp)
        rng.bit_generator.state = state
        per_token = ratio_interval(nll, tokens, n_boot=300, rng=rng)
        assert perplexity.estimate == pytest.approx(np.exp(nll.sum() / tokens.sum()), rel=1e-12)
        assert perplexity.low < perplexity.estimate < perplexity.high
        # the percentile interval follows a monotone transform (up to the interpolation between replicates)
        assert perplexity.low == pytest.approx(np.exp(per_token.low), rel=1e-3)
        assert perplexity.high == pytest.approx(np.exp(per_token.high), rel=1e-3)
        hits += covers(perplexity, np.exp(3.0))
    assert 0.88 <= hits / 100 <= 1.0


def test_ratio_resample_with_zero_denominator_fails() -> None:
    tokens = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 10])
    interval = ratio_interval(np.arange(10.0), tokens, n_boot=200, rng=np.random.default_rng(2))
    draws = np.random.default_rng(2)
    without_last = sum(9 not in draws.integers(0, 10, size=10) for _ in range(200))  # P = 0.9**10 = 0.35
    assert interval.estimate == pytest.approx(4.5)
    assert interval.n_failed == without_last > 0 and math.isfinite(interval.low)


# --- segments and branching ratios -----------------------------------------------------------------------------------

def test_segment_resample_keeps_contents_and_bounds() -> None:
    activity = np.arange(100, 112, dtype=np.int32)
    bounds = np.array([0, 3, 4, 9, 12])
    pieces = [activity[bounds[s]:bounds[s + 1]] for s in range(4)]
    chosen = np.array([2, 0, 2, 3, 1])
    series, edges = segment_resample(activity, bounds, chosen)
    np.testing.assert_array_equal(series, np.concatenate([pieces[s] for s in chosen]))
    np.testing.assert_array_equal(edges, [0, 5, 8, 13, 16, 17])
    assert series.dtype == np.int32 and edges.dtype == np.int64
    for k, s in enumerate(chosen):
        np.testing.assert_array_equal(series[edges[k]:edges[k + 1]], pieces[s])
    with pytest.raises(ValueError, match="segment indices"):
        segment_resample(activity, bounds, np.array([4]))


def test_segment_resample_is_exact_for_the_mr_estimator() -> None:
    activity, bounds = driven_branching_process(0.9, 10.0, 500, 6, np.random.default_rng(4))
    order = np.array([5, 4, 3, 2, 1, 0])
    assert mr_branching_ratio(*segment_resample(activity, bounds, order), 10).m == pytest.approx(
        mr_branching_ratio(activity, bounds, 10).m, rel=1e-9)


def test_branching_interval_covers_m_and_narrows_with_more_segments() -> None:
    widths = {}
    for n_segments in (10, 40):
        activity, bounds = driven_branching_process(0.9, 10.0, 1000, n_segments, np.random.default_rng(0))
        interval = branching_interval(activity, bounds, 20, n_boot=150, rng=np.random.default_rng(100))
        assert interval.n_failed == 0 and covers(interval, 0.9)
        widths[n_segments] = interval.high - interval.low
    assert widths[40] < 0.75 * widths[10]  # ~ 1 / sqrt(n_segments): half


def test_branching_interval_is_deterministic() -> None:
    activity, bounds = driven_branching_process(0.9, 10.0, 400, 8, np.random.default_rng(8))
    first = branching_interval(activity, bounds, 10, n_boot=20, rng=np.random.default_rng(9))
    assert first == branching_interval(activity, bounds, 10, n_boot=20, rng=np.random.default_rng(9))


# --- power-law exponents ---------------------------------------------------------------------------------------------

def test_exponent_interval_covers_true_alpha() -> None:
    sizes = sample_discrete_power_law(2.5, 1, 2000, np.random.default_rng(40))
    interval = exponent_interval(sizes, min_tail=50, n_boot=100, rng=np.random.default_rng(41))
    assert interval.n_failed == 0 and covers(interval, 2.5)
    assert interval.high - interval.low < 0.3


def test_exponent_interval_counts_resamples_without_a_fit() -> None:
    """30 ones and one 2: a resample that misses the 2 holds one distinct value and has no candidate xmin."""
    sizes = np.array([1] * 30 + [2])
    interval = exponent_interval(sizes, min_tail=10, n_boot=200, rng=np.random.default_rng(43))
    draws = np.random.default_rng(43)
    without_two = sum(30 not in draws.integers(0, 31, size=31) for _ in range(200))  # P = (30/31)**31 = 0.36
    assert interval.n_failed == without_two > 0
    assert math.isfinite(interval.estimate) and interval.low <= interval.estimate <= interval.high


# --- Spearman association --------------------------------------------------------------------------------------------

def brute_force_p(x: np.ndarray, y: np.ndarray) -> float:
    """Permutation p over all n! orderings of y, by scipy's spearmanr on each."""
    rho = spearmanr(x, y).statistic
    stats = [spearmanr(x, y[list(order)]).statistic for order in itertools.permutations(range(x.size))]
    return float(np.mean(np.abs(stats) >= abs(rho) - 1e-12))


def test_monotone_data_has_rho_one_and_exact_p() -> None:
    x = np.array([0.5, 0.8, 1.0, 1.5, 2.0])
    y = np.exp(3 * x)
    reps = np.random.default_rng(0).normal(size=(50, 5))
    result = spearman_association(x, y, reps, reps + 0.01)
    assert result.rho == pytest.approx(1.0) and result.n == 5
    assert result.p_permutation == pytest.approx(2 / 120)  # the identity and the reversal
    assert spearman_association(x, -y, reps, reps).rho == pytest.approx(-1.0)


def test_rho_and_exact_p_agree_with_scipy_and_brute_force() -> None:
    rng = np.random.default_rng(50)
    x = rng.normal(size=6)
    y = np.round(x + rng.normal(size=6))  # ties
    reps = rng.normal(size=(20, 6))
    result = spearman_association(x, y, reps, reps)
    assert result.rho == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert result.p_permutation == pytest.approx(brute_force_p(x, y), abs=1e-12)


def test_random_permutation_p_is_near_the_exact_one() -> None:
    rng = np.random.default_rng(60)
    x = rng.normal(size=9)
    y = x + 2.0 * rng.normal(size=9)
    reps = rng.normal(size=(20, 9))
    result = spearman_association(x, y, reps, reps)
    rx, ry = rankdata(x) - 5.0, rankdata(y) - 5.0
    orders = np.array(list(itertools.permutations(range(9))))  # 9! = 362,880: exact reference
    exact = np.mean(np.abs(ry[orders] @ rx) >= abs(rx @ ry) - 1e-9)
    assert result.p_permutation == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / N_RANDOM_PERMUTATIONS))
    monotone = spearman_association(x, 2 * x, reps, reps)
    assert monotone.p_permutation == pytest.approx(1 / (N_RANDOM_PERMUTATIONS + 1))  # the identity alone


def test_association_interval_from_paired_replicates_ignores_unusable_rows() -> None:
    rng = np.random.default_rng(70)
    gains = np.linspace(0.5, 2.0, 6)
    x, y = gains, 0.5 * gains + 0.1 * rng.normal(size=6)
    x_boot = x + 0.05 * rng.normal(size=(300, 6))
    y_boot = y + 0.1 * rng.normal(size=(300, 6))
    clean = spearman_association(x, y, x_boot, y_boot)
    expected = np.quantile([spearmanr(a, b).statistic for a, b in zip(x_boot, y_boot)], [0.025, 0.975])
    assert (clean.low, clean.high) == pytest.approx(tuple(expected), abs=1e-12)
    nan_rows = np.full((40, 6), np.nan)
    constant_rows = np.ones((40, 6))
    noisy = spearman_association(x, y, np.vstack((x_boot, nan_rows, x_boot[:40])),
                                 np.vstack((y_boot, y_boot[:40], constant_rows)))
    assert (noisy.low, noisy.high) == (clean.low, clean.high)
    mostly_bad = spearman_association(x, y, np.vstack((x_boot[:10], nan_rows)), np.vstack((y_boot[:10], nan_rows)))
    assert math.isnan(mostly_bad.low) and math.isnan(mostly_bad.high) and mostly_bad.rho == clean.rho


def test_constant_input_has_no_rho() -> None:
    reps = np.random.default_rng(0).normal(size=(10, 4))
    result = spearman_association(np.ones(4), np.arange(4.0), reps, reps)
    assert math.isnan(result.rho) and math.isnan(result.p_permutation)


# --- Holm ------------------------------------------------------------------------------------------------------------

def holm_reference(p: list[float]) -> list[float]:
    """Holm from its definition, with loops: p_(i) -> min(1, max_{j <= i} (m - j + 1) p_(j))."""
    present = sorted((value, i) for i, value in enumerate(p) if not math.isnan(value))
    m = len(present)
    out = list(p)
    running = 0.0
    for j, (value, i) in enumerate(present):
        running = max(running, (m - j) * value)
        out[i] = min(1.0, running)
    return out


def test_holm_hand_computed() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, 1*0.04 = 0.02, 0.03, 0.06, 0.04 -> cummax
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.3, 0.6, 0.02]) == pytest.approx([0.6, 0.6, 0.06])
    assert holm_adjust([0.5, 0.6]) == [1.0, 1.0]  # capped
    assert holm_adjust([0.04]) == [0.04] and holm_adjust([]) == []


def test_holm_passes_nan_through_and_does_not_count_it() -> None:
    adjusted = holm_adjust([0.01, math.nan, 0.04])
    assert math.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)


def test_holm_is_monotone_and_matches_the_definition() -> None:
    rng = np.random.default_rng(80)
    for _ in range(50):
        p = list(rng.random(7) ** 3)
        p[int(rng.integers(7))] = math.nan
        adjusted = holm_adjust(p)
        assert adjusted == pytest.approx(holm_reference(p), nan_ok=True)
        pairs = sorted((a, b) for a, b in zip(p, adjusted) if not math.isnan(a))
        assert all(b1 <= b2 for (_, b1), (_, b2) in itertools.pairwise(pairs))
        assert all(a <= b <= 1.0 for a, b in pairs)
    with pytest.raises(ValueError, match="lie in"):
        holm_adjust([0.5, 1.5])
