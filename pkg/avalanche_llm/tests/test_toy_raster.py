"""A hand-made raster with known spikes: counts, views, storage, bad inputs, and a shifted-copy correlation."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from avalanche_llm.raster import Raster, activity_cross_correlation, total_activity

# Two segments of 3 bins, 4 units; spikes as (time, unit), sorted by time then unit.
BOUNDS = np.array([0, 3, 6])
SPIKES = [(0, 1), (0, 3), (1, 0), (2, 1), (4, 2), (5, 0), (5, 1), (5, 3)]
DENSE = np.array([[0, 1, 0, 1],
                  [1, 0, 0, 0],
                  [0, 1, 0, 0],
                  [0, 0, 0, 0],
                  [0, 0, 1, 0],
                  [1, 1, 0, 1]], dtype=bool)


def toy() -> Raster:
    times, units = np.array(SPIKES).T
    return Raster(times, units, 4, BOUNDS)


def assert_same(left: Raster, right: Raster) -> None:
    assert left.n_units == right.n_units
    for name in ("times", "units", "bounds"):
        assert np.array_equal(getattr(left, name), getattr(right, name))
        assert getattr(right, name).dtype == np.int64


def test_counts_of_the_toy_raster() -> None:
    raster = toy()
    assert (raster.n_bins, raster.n_units, raster.n_spikes, raster.n_segments) == (6, 4, 8, 2)
    assert raster.activity().tolist() == [2, 1, 1, 0, 1, 3]
    assert raster.activity().dtype == np.int64
    assert raster.unit_counts().tolist() == [2, 3, 1, 2]
    assert raster.segment_unit_counts().tolist() == [[1, 2, 0, 1], [1, 1, 1, 1]]
    assert raster.flat_indices().tolist() == [1, 3, 4, 9, 18, 20, 21, 23]


def test_dense_and_flat_round_trips() -> None:
    raster = toy()
    assert np.array_equal(raster.dense(), DENSE)
    assert_same(raster, Raster.from_mask(DENSE, BOUNDS))
    assert_same(raster, Raster.from_flat(raster.flat_indices(), 6, 4, BOUNDS))


def test_arrays_round_trip_through_hdf5(tmp_path) -> None:
    raster = toy()
    arrays = raster.to_arrays("gain_1.0/layer_03")
    assert sorted(arrays) == ["gain_1.0/layer_03/bounds", "gain_1.0/layer_03/n_units",
                              "gain_1.0/layer_03/times", "gain_1.0/layer_03/units"]
    assert arrays["gain_1.0/layer_03/n_units"].shape == ()
    assert_same(raster, Raster.from_arrays(arrays, "gain_1.0/layer_03"))
    path = tmp_path / "rasters.h5"
    with h5py.File(path, "w") as file:
        for name, array in arrays.items():
            file.create_dataset(name, data=array)
    with h5py.File(path, "r") as file:
        assert_same(raster, Raster.from_arrays(file, "gain_1.0/layer_03"))
    one_element = dict(arrays, **{"gain_1.0/layer_03/n_units": np.array([4])})
    assert_same(raster, Raster.from_arrays(one_element, "gain_1.0/layer_03"))


def test_raster_arrays_are_read_only() -> None:
    raster = toy()
    with pytest.raises(ValueError, match="read-only"):
        raster.times[0] = 5


@pytest.mark.parametrize(("times", "units", "n_units", "bounds", "message"), [
    ([0, 6], [0, 1], 4, [0, 3, 6], r"times must lie in \[0, 6\)"),
    ([-1, 2], [0, 1], 4, [0, 3, 6], r"times must lie in \[0, 6\)"),
    ([0, 1], [0, 4], 4, [0, 3, 6], r"units must lie in \[0, 4\)"),
    ([1, 0], [0, 0], 4, [0, 3, 6], "sorted by time, then unit"),
    ([0, 0], [2, 1], 4, [0, 3, 6], "sorted by time, then unit"),
    ([0, 0], [1, 1], 4, [0, 3, 6], "duplicate"),
    ([0, 1], [0, 1, 2], 4, [0, 3, 6], "one length"),
    ([0.0, 1.0], [0, 1], 4, [0, 3, 6], "times must be integers"),
    ([0, 1], [0, 1], 0, [0, 3, 6], "n_units must be a positive integer"),
    ([0, 1], [0, 1], 4, [1, 3, 6], "bounds must start at 0"),
    ([0, 1], [0, 1], 4, [0, 3, 3, 6], "strictly increasing"),
    ([0, 1], [0, 1], 4, [6], "n_segments \\+ 1 >= 2"),
    ([0, 1], [0, 1], 4, [0.0, 6.0], "integer array"),
])
def test_bad_rasters_raise(times, units, n_units, bounds, message) -> None:
    with pytest.raises(ValueError, match=message):
        Raster(np.array(times), np.array(units), n_units, np.array(bounds))


def test_bad_constructor_inputs_raise() -> None:
    with pytest.raises(ValueError, match="bounds end at 6 but the time axis has 5 bins"):
        Raster.from_mask(DENSE[:5], BOUNDS)
    with pytest.raises(ValueError, match="2-D bool"):
        Raster.from_mask(DENSE.astype(np.int8), BOUNDS)
    with pytest.raises(ValueError, match=r"flat indices must lie in \[0, 6 \* 4\)"):
        Raster.from_flat(np.array([3, 24]), 6, 4, BOUNDS)
    with pytest.raises(ValueError, match="sorted"):
        Raster.from_flat(np.array([9, 3]), 6, 4, BOUNDS)
    with pytest.raises(ValueError, match=r"raster datasets missing: \['r/bounds'\]"):
        Raster.from_arrays({k: v for k, v in toy().to_arrays("r").items() if k != "r/bounds"}, "r")
    with pytest.raises(ValueError, match="non-empty dataset path"):
        toy().to_arrays("r/")


def test_total_activity_sums_layers_and_needs_one_time_axis() -> None:
    raster = toy()
    other = Raster.from_flat(np.array([0, 5, 6, 22]), 6, 4, BOUNDS)
    assert total_activity([raster, other]).tolist() == [3, 3, 1, 0, 1, 4]
    with pytest.raises(ValueError, match="identical bounds"):
        total_activity([raster, Raster.from_mask(DENSE, np.array([0, 2, 6]))])
    with pytest.raises(ValueError, match="at least one raster"):
        total_activity([])


def test_cross_correlation_of_a_copy_shifted_by_two_bins() -> None:
    rng = np.random.default_rng(11)
    bounds = np.array([0, 40, 95, 160])
    source = rng.poisson(3.0, size=160)
    shifted = rng.poisson(3.0, size=160)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        shifted[start + 2:stop] = source[start:stop - 2]
    cc = activity_cross_correlation(np.stack([source, shifted]), bounds, max_lag=5)
    assert cc.shape == (2, 2, 6)
    assert int(np.argmax(cc[0, 1])) == 2
    assert cc[0, 1, 2] == pytest.approx(1.0, abs=1e-12)
    assert np.all(cc[0, 1, [0, 1, 3, 4, 5]] < 0.5)
    assert cc[0, 0, 0] == pytest.approx(1.0, abs=1e-12)
    assert cc[1, 1, 0] == pytest.approx(1.0, abs=1e-12)
