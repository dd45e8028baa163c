"""A per-unit time shuffle of a critical raster no longer fits a power law (issue 6, item 11).

The critical raster: 5,000 Galton-Watson trees (Poisson(1) offspring; trees above 10^6 spikes left
out so the raster stays small) separated by quiet gaps of 1 + Geometric(1/200) bins, as a rarely
driven critical network would be, cut into segments of 20,000 bins; in each bin the active units are
0..A(t)-1. The unit_time null keeps every unit's count in every segment and spreads its spikes
uniformly over the segment, which dissolves the trees into independent, short bursts.
"""

from __future__ import annotations

import numpy as np
import pytest

from avalanche_llm.metrics.avalanches import find_avalanches
from avalanche_llm.metrics.stats import bootstrap_gof, fit_discrete_power_law
from avalanche_llm.raster.build import Raster
from avalanche_llm.raster.nulls import marginals_kept, unit_time_shuffle

from .synthetic_processes import galton_watson_avalanches

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
