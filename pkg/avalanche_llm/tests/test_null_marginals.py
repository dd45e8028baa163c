"""Null rasters keep exactly the marginals they claim, change the others, and follow their seed."""

from __future__ import annotations

import numpy as np
import pytest

from avalanche_llm.raster import NULLS, Raster, both_marginals_shuffle, marginals_kept

BOUNDS = np.array([0, 100, 250, 262, 600])
N_UNITS = 40
UNCLAIMED = {"unit_time": "bin_counts", "bin_unit": "unit_segment_counts", "time_shift": "bin_counts",
             "bin_order": "bin_counts"}


def sparse_raster() -> Raster:
    """5% random spikes, plus a unit at 80% and a few bins with 30 of 40 units (groups over half full)."""
    rng = np.random.default_rng(2024)
    mask = rng.random((600, N_UNITS)) < 0.05
    mask[:, 7] = rng.random(600) < 0.8
    mask[[5, 101, 255, 599], :30] = True
    return Raster.from_mask(mask, BOUNDS)


@pytest.mark.parametrize("name", sorted(NULLS))
def test_claimed_marginals_are_kept_exactly(name: str) -> None:
    raster = sparse_raster()
    null = NULLS[name](raster, np.random.default_rng(7))
    assert null.n_spikes == raster.n_spikes
    assert np.array_equal(null.bounds, raster.bounds)
    kept = marginals_kept(raster, null, name)
    assert kept["claimed"] is True
    if name in ("unit_time", "both", "time_shift", "bin_order"):
        assert np.array_equal(null.segment_unit_counts(), raster.segment_unit_counts())
        assert np.array_equal(null.unit_counts(), raster.unit_counts())
    if name in ("bin_unit", "both"):
        assert np.array_equal(null.activity(), raster.activity())
    if name in UNCLAIMED:
        assert kept[UNCLAIMED[name]] is False
    else:
        assert kept == {"unit_segment_counts": True, "bin_counts": True, "segment_bin_values": True, "claimed": True}


@pytest.mark.parametrize("name", sorted(NULLS))
def test_the_raster_actually_changes(name: str) -> None:
    raster = sparse_raster()
    null = NULLS[name](raster, np.random.default_rng(7))
    moved = np.setdiff1d(raster.flat_indices(), null.flat_indices()).size
    assert moved > raster.n_spikes // 3


def test_unclaimed_marginals_change() -> None:
    raster = sparse_raster()
    by_unit = NULLS["bin_unit"](raster, np.random.default_rng(1))
    assert not np.array_equal(by_unit.unit_counts(), raster.unit_counts())
    by_time = NULLS["unit_time"](raster, np.random.default_rng(1))
    assert not np.array_equal(by_time.activity(), raster.activity())


@pytest.mark.parametrize("name", sorted(NULLS))
def test_same_seed_same_null_other_seed_other_null(name: str) -> None:
    raster = sparse_raster()
    first = NULLS[name](raster, np.random.default_rng(42))
    again = NULLS[name](raster, np.random.default_rng(42))
    other = NULLS[name](raster, np.random.default_rng(43))
    assert first.times.tobytes() == again.times.tobytes()
    assert first.units.tobytes() == again.units.tobytes()
    assert not np.array_equal(first.flat_indices(), other.flat_indices())


def test_marginals_kept_reports_each_marginal() -> None:
    raster = sparse_raster()
    assert marginals_kept(raster, raster, "both") == {"unit_segment_counts": True, "bin_counts": True,
                                                      "segment_bin_values": True, "claimed": True}
    flat = raster.flat_indices().copy()
    spike = int(np.flatnonzero(raster.units == 0)[0])
    free_unit = next(u for u in range(1, N_UNITS) if raster.times[spike] * N_UNITS + u not in set(flat.tolist()))
    flat[spike] = raster.times[spike] * N_UNITS + free_unit  # same bin, another unit
    same_bin = Raster.from_flat(np.sort(flat), raster.n_bins, N_UNITS, BOUNDS)
    assert marginals_kept(raster, same_bin, "bin_unit") == {"unit_segment_counts": False, "bin_counts": True,
                                                            "segment_bin_values": True, "claimed": True}
    assert marginals_kept(raster, same_bin, "unit_time") == {"unit_segment_counts": False, "bin_counts": True,
                                                             "segment_bin_values": True, "claimed": False}
    assert marginals_kept(raster, same_bin, "both")["claimed"] is False
    with pytest.raises(ValueError, match="unknown null 'shift'"):
        marginals_kept(raster, raster, "shift")
    with pytest.raises(ValueError, match="n_units and bounds"):
        marginals_kept(raster, Raster.from_flat(flat[:3], 600, N_UNITS, np.array([0, 600])), "both")


def test_curveball_trades() -> None:
    raster = sparse_raster()
    still = both_marginals_shuffle(raster, np.random.default_rng(0), trades_per_row=0)
    assert np.array_equal(still.flat_indices(), raster.flat_indices())
    few = both_marginals_shuffle(raster, np.random.default_rng(0), trades_per_row=1)
    many = both_marginals_shuffle(raster, np.random.default_rng(0))
    moved_few = np.setdiff1d(raster.flat_indices(), few.flat_indices()).size
    moved_many = np.setdiff1d(raster.flat_indices(), many.flat_indices()).size
    assert 0 < moved_few < moved_many
    with pytest.raises(ValueError, match="trades_per_row"):
        both_marginals_shuffle(raster, np.random.default_rng(0), trades_per_row=-1)


def test_bin_order_moves_whole_bins_and_time_shift_keeps_each_units_gaps() -> None:
    raster = sparse_raster()
    ordered = NULLS["bin_order"](raster, np.random.default_rng(3))
    dense, shuffled = raster.dense(), ordered.dense()
    for start, end in zip(BOUNDS[:-1], BOUNDS[1:]):  # the same bins (rows), reordered within the segment
        assert sorted(map(bytes, dense[start:end])) == sorted(map(bytes, shuffled[start:end]))
    shifted = NULLS["time_shift"](raster, np.random.default_rng(3)).dense()
    for start, end in zip(BOUNDS[:-1], BOUNDS[1:]):  # each unit's train is a rotation of its own
        for unit in range(N_UNITS):
            train, moved = dense[start:end, unit], shifted[start:end, unit]
            assert any(np.array_equal(np.roll(train, lag), moved) for lag in range(end - start))
