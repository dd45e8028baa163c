"""Avalanches: the finder on hand-made series, and the exponents of critical Galton-Watson avalanches
(sizes 3/2, durations 2, <S>(T) ~ T^2, so the crackling relation holds)."""

from __future__ import annotations

import numpy as np
import pytest

from avalanche_llm.metrics.avalanches import Avalanches, find_avalanches, mean_size_by_duration
from avalanche_llm.metrics.signatures import MIN_AVALANCHES_PER_DURATION, crackling_relation
from avalanche_llm.metrics.stats import PowerLawFit, fit_discrete_power_law

from avalanche_llm.metrics.synthetic import GaltonWatson, galton_watson_avalanches


@pytest.fixture(scope="module")
def critical() -> GaltonWatson:
    """1e5 avalanches of Poisson(1) offspring, their generation sizes laid out as one activity series."""
    return galton_watson_avalanches(100_000, np.random.default_rng(2))


def power_law(alpha: float, xmin: int) -> PowerLawFit:
    return PowerLawFit(alpha=alpha, xmin=xmin, ks=0.0, n_tail=100, n=100, log_likelihood=0.0)


def test_runs_framed_by_silence_are_avalanches() -> None:
    activity = np.array([0, 1, 2, 0, 3, 0, 0, 4, 4, 4, 0, 5])
    found = find_avalanches(activity, np.array([0, 12]))
    assert found.sizes.tolist() == [3, 3, 12]
    assert found.durations.tolist() == [2, 1, 3]
    assert found.starts.tolist() == [1, 4, 7]
    assert found.sizes.dtype == found.durations.dtype == found.starts.dtype == np.int64


def test_runs_touching_a_segment_edge_are_dropped() -> None:
    """Segment 0 ends inside a run and segment 1 starts inside one: both are cut, and never joined."""
    activity = np.array([2, 0, 1, 0, 2, 2, 3, 0, 1, 1, 0, 0, 0, 7, 0])
    bounds = np.array([0, 6, 12, 15])
    found = find_avalanches(activity, bounds)
    assert found.sizes.tolist() == [1, 2, 7]
    assert found.durations.tolist() == [1, 2, 1]
    assert found.starts.tolist() == [2, 8, 13]
    assert find_avalanches(activity, np.array([0, 15])).sizes.tolist() == [1, 7, 2, 7]


@pytest.mark.parametrize(
    ("activity", "bounds", "count"),
    [
        (np.zeros(10, dtype=np.int64), np.array([0, 10]), 0),
        (np.ones(10, dtype=np.int64), np.array([0, 10]), 0),
        (np.array([0, 0, 3, 3, 0, 0, 0, 3, 3, 0]), np.array([0, 4, 10]), 1),  # the run at 2..3 ends segment 0
    ],
    ids=["silent", "always-active", "cut-by-boundary"],
)
def test_avalanche_count(activity: np.ndarray, bounds: np.ndarray, count: int) -> None:
    found = find_avalanches(activity, bounds)
    assert found.sizes.size == found.durations.size == found.starts.size == count


def test_integer_valued_floats_are_counts() -> None:
    found = find_avalanches(np.array([0.0, 2.0, 5.0, 0.0]), np.array([0, 4]))
    assert found.sizes.tolist() == [7] and found.durations.tolist() == [2]


def test_mean_size_by_duration() -> None:
    av = Avalanches(sizes=np.array([3, 1, 10, 2, 6]), durations=np.array([2, 1, 3, 1, 2]), starts=np.arange(5))
    durations, means = mean_size_by_duration(av)
    assert durations.tolist() == [1, 2, 3]
    np.testing.assert_allclose(means, [1.5, 4.5, 10.0])


def test_finder_recovers_every_galton_watson_tree(critical: GaltonWatson) -> None:
    found = find_avalanches(critical.activity, critical.bounds)
    np.testing.assert_array_equal(found.sizes, critical.sizes)
    np.testing.assert_array_equal(found.durations, critical.durations)


def test_critical_exponents_and_crackling(critical: GaltonWatson) -> None:
    """Sizes at the fixed xmin = 5 (the scan may pick a smaller one); durations with the xmin scan."""
    found = find_avalanches(critical.activity, critical.bounds)
    sizes = fit_discrete_power_law(found.sizes, xmin=5)
    durations = fit_discrete_power_law(found.durations)
    assert sizes.alpha == pytest.approx(1.5, abs=0.02)
    assert durations.alpha == pytest.approx(2.0, abs=0.1)
    crackling = crackling_relation(found, sizes, durations)
    assert crackling.gamma_fit == pytest.approx(2.0, abs=0.1)
    assert crackling.gamma_pred == pytest.approx(2.0, abs=0.2)
    assert crackling.difference == pytest.approx(crackling.gamma_fit - crackling.gamma_pred)
    assert (crackling.tau, crackling.alpha) == (sizes.alpha, durations.alpha)


def test_crackling_fit_uses_durations_from_xmin_with_enough_avalanches() -> None:
    """<S> = T^2 exactly on T = 2..6 (10 avalanches each); T = 1 lies below xmin and T = 7 has too few."""
    durations = np.repeat(np.arange(1, 8), [50] + [MIN_AVALANCHES_PER_DURATION] * 5 + [MIN_AVALANCHES_PER_DURATION - 1])
    sizes = durations**2
    sizes[durations == 1] = 100
    sizes[durations == 7] = 10**6
    av = Avalanches(sizes=sizes, durations=durations, starts=np.arange(durations.size))
    crackling = crackling_relation(av, power_law(1.5, 1), power_law(2.2, 2))
    assert crackling.gamma_fit == pytest.approx(2.0, abs=1e-12)
    assert crackling.gamma_pred == pytest.approx(2.4)
    assert crackling.difference == pytest.approx(-0.4)
    with pytest.raises(ValueError, match="the <S>\\(T\\) fit needs 3"):
        crackling_relation(av, power_law(1.5, 1), power_law(2.2, 5))


@pytest.mark.parametrize(
    ("activity", "bounds", "message"),
    [
        (np.array([0, -1, 0]), np.array([0, 3]), "non-negative"),
        (np.array([0.0, 1.5, 0.0]), np.array([0, 3]), "integer counts"),
        (np.array([[0, 1, 0]]), np.array([0, 3]), "1-D"),
        (np.array([0, 1, 0]), np.array([0, 2]), "bounds end"),
        (np.array([0, 1, 0]), np.array([0, 2, 2, 3]), "strictly increasing"),
        (np.array(["a", "b"]), np.array([0, 2]), "integer"),
    ],
)
def test_bad_activity_raises(activity: np.ndarray, bounds: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_avalanches(activity, bounds)
