"""Cross-correlation against a direct computation and its NaN rules; the nulls sample uniformly."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from avalanche_llm.raster import NULLS, Raster, activity_cross_correlation, both_marginals_shuffle


def direct_cc(activities: np.ndarray, bounds: np.ndarray, max_lag: int) -> np.ndarray:
    """Pair by pair: collect (A_a(t), A_b(t + k)) inside each segment, then np.corrcoef."""
    n_layers = activities.shape[0]
    out = np.empty((n_layers, n_layers, max_lag + 1))
    for lag in range(max_lag + 1):
        starts = np.concatenate([np.arange(a, b - lag) for a, b in zip(bounds[:-1], bounds[1:])])
        for a, b in itertools.product(range(n_layers), repeat=2):
            out[a, b, lag] = np.corrcoef(activities[a, starts], activities[b, starts + lag])[0, 1]
    return out


def test_cross_correlation_matches_the_direct_computation() -> None:
    rng = np.random.default_rng(21)
    bounds = np.array([0, 17, 50, 51, 120, 200])
    activities = rng.poisson(2.0, size=(4, 200))
    activities[1] += activities[0]
    cc = activity_cross_correlation(activities, bounds, max_lag=6)
    np.testing.assert_allclose(cc, direct_cc(activities, bounds, 6), rtol=0, atol=1e-12)
    np.testing.assert_allclose(cc[:, :, 0], cc[:, :, 0].T, atol=1e-15)


def test_cross_correlation_nan_rules() -> None:
    bounds = np.array([0, 5, 10])
    activities = np.array([[1, 0, 2, 0, 3, 2, 1, 0, 2, 0],
                           [4, 4, 4, 4, 4, 4, 4, 4, 4, 4],
                           [0, 1, 0, 0, 0, 1, 1, 0, 0, 0]])
    cc = activity_cross_correlation(activities, bounds, max_lag=5)
    assert np.all(np.isnan(cc[1, :, :])) and np.all(np.isnan(cc[:, 1, :]))
    assert np.all(np.isnan(cc[:, :, 5]))  # no pair (t, t + 5) stays inside a 5-bin segment
    assert np.isfinite(cc[0, 2, 0]) and np.isfinite(cc[2, 0, 1])
    # Lag 4 has one pair per segment, t = 0 and 5: A_2 is (0, 1) at t but (0, 0) at t + 4.
    assert np.isnan(cc[0, 2, 4]) and cc[2, 0, 4] == -1.0


def test_cross_correlation_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="2-D"):
        activity_cross_correlation(np.zeros(10), np.array([0, 10]), 2)
    with pytest.raises(ValueError, match="max_lag"):
        activity_cross_correlation(np.zeros((2, 10)), np.array([0, 10]), -1)
    with pytest.raises(ValueError, match="bounds end at 9"):
        activity_cross_correlation(np.zeros((2, 10)), np.array([0, 9]), 2)


def subset_frequencies(rows: np.ndarray) -> np.ndarray:
    """Counts of each distinct bool row, in a fixed order."""
    counts = Counter(map(bytes, np.packbits(rows, axis=1)))
    return np.array([counts[key] for key in sorted(counts)])


def test_bin_unit_sets_are_uniform() -> None:
    # 6000 bins, 5 units; bins hold 2 (drawn directly) or 3 (drawn as the complement) of 5 units.
    mask = np.zeros((6000, 5), dtype=bool)
    mask[:3000, :2] = True
    mask[3000:, :3] = True
    null = NULLS["bin_unit"](Raster.from_mask(mask, np.array([0, 3000, 6000])), np.random.default_rng(0))
    for rows in (null.dense()[:3000], null.dense()[3000:]):
        frequencies = subset_frequencies(rows)
        assert frequencies.size == 10
        assert chisquare(frequencies).pvalue > 1e-3


def test_unit_time_sets_are_uniform() -> None:
    # 3000 segments of 5 bins; unit 0 spikes twice and unit 1 three times in each.
    mask = np.zeros((15000, 2), dtype=bool)
    mask.reshape(3000, 5, 2)[:, :2, 0] = True
    mask.reshape(3000, 5, 2)[:, :3, 1] = True
    null = NULLS["unit_time"](Raster.from_mask(mask, np.arange(0, 15001, 5)), np.random.default_rng(0))
    for unit in (0, 1):
        frequencies = subset_frequencies(null.dense()[:, unit].reshape(3000, 5))
        assert frequencies.size == 10
        assert chisquare(frequencies).pvalue > 1e-3


def test_curveball_samples_every_matrix_with_the_margins_uniformly() -> None:
    # Row sums (2, 2, 3, 1) and column sums (3, 2, 2, 1): 24 binary matrices, found by enumeration.
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)
    rows_by_sum = [[row for row in itertools.product((0, 1), repeat=4) if sum(row) == total] for total in mask.sum(1)]
    every = [m for m in itertools.product(*rows_by_sum) if np.array_equal(np.sum(m, axis=0), mask.sum(axis=0))]
    assert len(every) == 24
    # 1200 one-segment copies of the matrix, each shuffled on its own.
    raster = Raster.from_mask(np.tile(mask, (1200, 1)), np.arange(0, 4801, 4))
    null = both_marginals_shuffle(raster, np.random.default_rng(3))
    frequencies = subset_frequencies(null.dense().reshape(1200, 16))
    assert frequencies.size == 24
    assert chisquare(frequencies).pvalue > 1e-3


def test_nulls_of_an_empty_raster_are_empty() -> None:
    empty = Raster(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3, np.array([0, 4, 9]))
    for null in NULLS.values():
        assert null(empty, np.random.default_rng(0)).n_spikes == 0
