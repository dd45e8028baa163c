"""Nulls that can fail: each population metric has a null that keeps the stated marginals and can change
it, tested on a planted raster where it must differ from the data and on one where it must not (issue 17).

A per-unit time shuffle of a critical raster no longer fits a power law (issue 6, item 11).

The critical raster: 5,000 Galton-Watson trees (Poisson(1) offspring; trees above 10^6 spikes left
out so the raster stays small) separated by quiet gaps of 1 + Geometric(1/200) bins, as a rarely
driven critical network would be, cut into segments of 20,000 bins; in each bin the active units are
0..A(t)-1. The unit_time null keeps every unit's count in every segment and spreads its spikes
uniformly over the segment, which dissolves the trees into independent, short bursts.
"""

from __future__ import annotations

import numpy as np
import pytest

from scipy.stats import ks_2samp

from avalanche_llm.metrics.avalanches import find_avalanches
from avalanche_llm.metrics.branching import conventional_branching_ratio, mr_branching_ratio
from avalanche_llm.metrics.stats import bootstrap_gof, fit_discrete_power_law
from avalanche_llm.raster.build import Raster
from avalanche_llm.raster.nulls import bin_order_shuffle, marginals_kept, time_shift_shuffle, unit_time_shuffle

from avalanche_llm.metrics.synthetic import driven_branching_process, galton_watson_avalanches

XMIN = 5
SEGMENT_BINS = 20_000


@pytest.fixture(scope="module")
def critical_raster() -> Raster:
    rng = np.random.default_rng(1)
    activity = galton_watson_avalanches(5_000, rng).activity.astype(np.int64)
    tree = np.cumsum(activity == 0)
    activity = activity[np.bincount(tree, weights=activity)[tree] <= 10**6]
    quiet = activity == 0
    repeats = np.ones(activity.size, dtype=np.int64)
    repeats[quiet] = rng.geometric(1 / 200, size=int(quiet.sum()))
    activity = np.repeat(activity, repeats)
    activity = activity[: activity.size // SEGMENT_BINS * SEGMENT_BINS]
    times = np.repeat(np.arange(activity.size), activity)
    units = np.arange(times.size) - np.repeat(np.cumsum(activity) - activity, activity)
    bounds = np.arange(activity.size // SEGMENT_BINS + 1, dtype=np.int64) * SEGMENT_BINS
    return Raster(times, units, int(activity.max()), bounds)


def _size_fit_and_p(raster: Raster) -> tuple[float, float]:
    sizes = find_avalanches(raster.activity(), raster.bounds).sizes
    fit = fit_discrete_power_law(sizes, xmin=XMIN)
    return fit.alpha, bootstrap_gof(sizes, fit, n_boot=50, rng=np.random.default_rng(0))


def test_critical_raster_fits_a_power_law_and_its_unit_time_shuffle_does_not(critical_raster: Raster) -> None:
    alpha, p = _size_fit_and_p(critical_raster)
    assert alpha == pytest.approx(1.5, abs=0.05) and p > 0.1
    shuffled = unit_time_shuffle(critical_raster, np.random.default_rng(2))
    assert marginals_kept(critical_raster, shuffled, "unit_time")["claimed"]
    shuffled_alpha, shuffled_p = _size_fit_and_p(shuffled)
    assert shuffled_p < 0.05 and abs(shuffled_alpha - 1.5) > 0.2


def _on_random_units(activity: np.ndarray, bounds: np.ndarray, n_units: int, rng: np.random.Generator) -> Raster:
    """A raster whose bin t holds ``activity[t]`` spikes on a uniform random set of the ``n_units`` units."""
    keys = rng.random((activity.size, n_units)).argsort(axis=1)
    mask = np.arange(n_units)[None, :] < activity[:, None]
    dense = np.zeros((activity.size, n_units), dtype=bool)
    np.put_along_axis(dense, keys, mask, axis=1)
    return Raster.from_mask(dense, bounds)


@pytest.fixture(scope="module")
def propagating_raster() -> Raster:
    """Planted propagation: a driven branching process, m = 0.9, 20 windows of 2,000 bins, mean 20 spikes
    per bin spread over random units of 400, so the temporal structure is collective, not per unit."""
    rng = np.random.default_rng(31)
    activity, bounds = driven_branching_process(0.9, 2.0, 2_000, 20, rng)
    return _on_random_units(np.minimum(activity, 400), bounds, 400, rng)


@pytest.fixture(scope="module")
def independent_raster() -> Raster:
    """No collective structure: 400 independent units, each a slow two-state (on/off) Markov chain; A(t)
    is autocorrelated only through each unit's own persistence."""
    rng = np.random.default_rng(32)
    n_bins, n_units = 40_000, 400
    flips = rng.random((n_bins, n_units)) < 0.05  # each unit switches state with probability 0.05 per bin
    state = (np.cumsum(flips, axis=0) + rng.integers(0, 2, size=n_units)) % 2 == 1
    dense = state & (rng.random((n_bins, n_units)) < 0.5)
    return Raster.from_mask(dense, np.arange(21, dtype=np.int64) * 2_000)


def test_bin_order_null_destroys_planted_propagation(propagating_raster: Raster) -> None:
    """b_tot: the data read m = 0.9; the bins of each window in random order keep every bin's units and the
    values of A(t), yet no lagged correlation is left, and the fit must fail."""
    data = mr_branching_ratio(propagating_raster.activity(), propagating_raster.bounds, 30)
    assert data.valid and abs(data.m - 0.9) <= 0.02
    null = bin_order_shuffle(propagating_raster, np.random.default_rng(1))
    assert marginals_kept(propagating_raster, null, "bin_order")["claimed"]
    shuffled = mr_branching_ratio(null.activity(), null.bounds, 30)
    assert not shuffled.valid and "b_not_significant" in shuffled.status
    assert abs(conventional_branching_ratio(null.activity(), null.bounds)) < 0.02


def test_bin_order_null_leaves_a_raster_without_temporal_order_alone() -> None:
    """Where the bins are independent already (iid Poisson A(t)), reordering them changes nothing measurable:
    r_1 stays at noise level on both and neither fit passes."""
    rng = np.random.default_rng(33)
    raster = _on_random_units(rng.poisson(5.0, size=40_000), np.arange(21, dtype=np.int64) * 2_000, 100, rng)
    null = bin_order_shuffle(raster, np.random.default_rng(2))
    for series in (raster, null):
        assert abs(conventional_branching_ratio(series.activity(), series.bounds)) < 0.02
        assert not mr_branching_ratio(series.activity(), series.bounds, 10).valid


def test_time_shift_null_removes_collective_propagation(propagating_raster: Raster) -> None:
    """r_1 and b (collective propagation): shifting each unit's train by its own lag keeps its count and its
    gaps but misaligns the units; the data's r_1 of 0.9 falls to the single-unit share."""
    null = time_shift_shuffle(propagating_raster, np.random.default_rng(3))
    assert marginals_kept(propagating_raster, null, "time_shift")["claimed"]
    data_r1 = conventional_branching_ratio(propagating_raster.activity(), propagating_raster.bounds)
    null_r1 = conventional_branching_ratio(null.activity(), null.bounds)
    assert data_r1 > 0.85 and null_r1 < 0.1


def test_time_shift_null_keeps_what_each_unit_does_alone(independent_raster: Raster) -> None:
    """Independent units: A(t)'s autocorrelation is the sum of each unit's own, which a per-unit shift keeps."""
    null = time_shift_shuffle(independent_raster, np.random.default_rng(4))
    data_r1 = conventional_branching_ratio(independent_raster.activity(), independent_raster.bounds)
    null_r1 = conventional_branching_ratio(null.activity(), null.bounds)
    assert data_r1 > 0.1 and null_r1 == pytest.approx(data_r1, abs=0.03)


def test_avalanche_nulls_change_critical_avalanches(critical_raster: Raster) -> None:
    """Avalanche statistics: reordering bins or misaligning units breaks the planted trees into other
    avalanches: the size distributions differ from the data's (KS p < 1e-4)."""
    sizes = find_avalanches(critical_raster.activity(), critical_raster.bounds).sizes
    for null in (bin_order_shuffle(critical_raster, np.random.default_rng(5)),
                 time_shift_shuffle(critical_raster, np.random.default_rng(6))):
        null_sizes = find_avalanches(null.activity(), null.bounds).sizes
        assert ks_2samp(sizes, null_sizes).pvalue < 1e-4


def test_bin_order_null_keeps_the_avalanches_of_independent_bins() -> None:
    """Independent bins (each active with probability 1/2): a reordering is the same process, so the size
    distribution of its avalanches is the data's (KS p > 0.01)."""
    rng = np.random.default_rng(34)
    activity = rng.binomial(1, 0.5, size=60_000) * rng.integers(1, 4, size=60_000)
    raster = _on_random_units(activity, np.arange(31, dtype=np.int64) * 2_000, 10, rng)
    null = bin_order_shuffle(raster, np.random.default_rng(7))
    sizes = find_avalanches(raster.activity(), raster.bounds).sizes
    null_sizes = find_avalanches(null.activity(), null.bounds).sizes
    assert ks_2samp(sizes, null_sizes).pvalue > 0.01
