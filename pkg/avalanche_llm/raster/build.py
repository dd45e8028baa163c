"""The sparse spike raster of one layer: spike ``(time, unit)`` pairs on a time axis cut into segments.

``bounds`` (int64, ``(n_segments + 1,)``) holds the segment start offsets plus the total length
``T``: ``bounds[0] = 0``, strictly increasing, ``bounds[-1] = T``. One time bin is one token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Raster", "as_bounds", "total_activity"]

_DATASETS = ("times", "units", "n_units", "bounds")


def as_bounds(bounds: np.ndarray, n_bins: int | None = None) -> np.ndarray:
    """Validated int64 segment bounds; ``n_bins``, when given, must equal ``bounds[-1]``."""
    array = np.asarray(bounds)
    if array.ndim != 1 or array.size < 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"bounds must be a 1-D integer array of n_segments + 1 >= 2 offsets, got "
                         f"{array.dtype} array of shape {array.shape}")
    array = array.astype(np.int64)
    if array[0] != 0:
        raise ValueError(f"bounds must start at 0, got {array[0]}")
    if np.any(np.diff(array) <= 0):
        raise ValueError("bounds must be strictly increasing (every segment holds at least one bin)")
    if n_bins is not None and array[-1] != n_bins:
        raise ValueError(f"bounds end at {array[-1]} but the time axis has {n_bins} bins")
    return array


@dataclass(frozen=True, eq=False)
class Raster:
    """Spikes at ``(times[j], units[j])`` (int64, sorted by time then unit, no duplicates) of ``n_units`` units.

    The arrays are validated, copied to int64 and made read-only on construction.
    """

    times: np.ndarray
    units: np.ndarray
    n_units: int
    bounds: np.ndarray

    def __post_init__(self) -> None:
        times, units = np.asarray(self.times), np.asarray(self.units)
        if times.ndim != 1 or units.shape != times.shape:
            raise ValueError(f"times and units must be 1-D of one length, got shapes {times.shape} and {units.shape}")
        for name, array in (("times", times), ("units", units)):
            if array.size and not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name} must be integers, got {array.dtype}")
        if int(self.n_units) != self.n_units or self.n_units < 1:
            raise ValueError(f"n_units must be a positive integer, got {self.n_units}")
        bounds = as_bounds(self.bounds)
        n_bins, n_units = int(bounds[-1]), int(self.n_units)
        times, units = times.astype(np.int64), units.astype(np.int64)
        if times.size:
            if times.min() < 0 or times.max() >= n_bins:
                raise ValueError(f"spike times must lie in [0, {n_bins}), got [{times.min()}, {times.max()}]")
            if units.min() < 0 or units.max() >= n_units:
                raise ValueError(f"spike units must lie in [0, {n_units}), got [{units.min()}, {units.max()}]")
            steps = np.diff(times * n_units + units)
            if np.any(steps == 0):
                raise ValueError("raster holds a duplicate (time, unit) spike")
            if np.any(steps < 0):
                raise ValueError("raster spikes must be sorted by time, then unit")
        for array in (times, units, bounds):
            array.setflags(write=False)
        for name, value in (("times", times), ("units", units), ("n_units", n_units), ("bounds", bounds)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_mask(cls, mask: np.ndarray, bounds: np.ndarray) -> Raster:
        """Raster of a dense bool ``mask (T, N)``."""
        dense = np.asarray(mask)
        if dense.ndim != 2 or dense.dtype != np.bool_:
            raise ValueError(f"mask must be a 2-D bool (T, N) array, got {dense.dtype} of shape {dense.shape}")
        times, units = np.nonzero(dense)
        return cls(times, units, dense.shape[1], as_bounds(bounds, dense.shape[0]))

    @classmethod
    def from_flat(cls, flat_indices: np.ndarray, n_bins: int, n_units: int, bounds: np.ndarray) -> Raster:
        """Raster of sorted flat indices ``t * n_units + i`` (as in :class:`~..events.RateMatch`)."""
        flat = np.asarray(flat_indices)
        if flat.ndim != 1 or (flat.size and not np.issubdtype(flat.dtype, np.integer)):
            raise ValueError(f"flat_indices must be a 1-D integer array, got {flat.dtype} of shape {flat.shape}")
        if n_units < 1:
            raise ValueError(f"n_units must be a positive integer, got {n_units}")
        flat = flat.astype(np.int64)
        if flat.size and (flat.min() < 0 or flat.max() >= n_bins * n_units):
            raise ValueError(f"flat indices must lie in [0, {n_bins} * {n_units}), got [{flat.min()}, {flat.max()}]")
        return cls(flat // n_units, flat % n_units, n_units, as_bounds(bounds, n_bins))

    @property
    def n_bins(self) -> int:
        """Number of time bins T."""
        return int(self.bounds[-1])

    @property
    def n_segments(self) -> int:
        """Number of segments (sequences)."""
        return int(self.bounds.size - 1)

    @property
    def n_spikes(self) -> int:
        """Number of spikes."""
        return int(self.times.size)

    def flat_indices(self) -> np.ndarray:
        """Sorted int64 flat indices ``t * n_units + i`` of the spikes."""
        return self.times * self.n_units + self.units

    def dense(self) -> np.ndarray:
        """bool ``(T, N)`` view: True where a unit spikes."""
        mask = np.zeros((self.n_bins, self.n_units), dtype=bool)
        mask[self.times, self.units] = True
        return mask

    def activity(self) -> np.ndarray:
        """Population activity A(t): int64 ``(T,)`` spikes per bin."""
        return np.bincount(self.times, minlength=self.n_bins).astype(np.int64, copy=False)

    def unit_counts(self) -> np.ndarray:
        """int64 ``(N,)`` spikes per unit."""
        return np.bincount(self.units, minlength=self.n_units).astype(np.int64, copy=False)

    def segment_of_spikes(self) -> np.ndarray:
        """int64 ``(n_spikes,)`` segment of every spike."""
        return np.searchsorted(self.bounds, self.times, side="right") - 1

    def segment_unit_counts(self) -> np.ndarray:
        """int64 ``(n_segments, N)`` spikes of every unit in every segment."""
        keys = self.segment_of_spikes() * self.n_units + self.units
        counts = np.bincount(keys, minlength=self.n_segments * self.n_units)
        return counts.astype(np.int64, copy=False).reshape(self.n_segments, self.n_units)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Datasets ``prefix/times``, ``/units``, ``/bounds`` (int64) and ``/n_units`` (0-d int64) for HDF5."""
        _check_prefix(prefix)
        return {f"{prefix}/times": self.times, f"{prefix}/units": self.units,
                f"{prefix}/n_units": np.array(self.n_units, dtype=np.int64), f"{prefix}/bounds": self.bounds}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> Raster:
        """Inverse of :meth:`to_arrays`; ``arrays`` may be a dict or an open h5py file or group."""
        _check_prefix(prefix)
        missing = [f"{prefix}/{name}" for name in _DATASETS if f"{prefix}/{name}" not in arrays]
        if missing:
            raise ValueError(f"raster datasets missing: {missing}")
        n_units = np.asarray(arrays[f"{prefix}/n_units"])
        if n_units.size != 1:
            raise ValueError(f"{prefix}/n_units must hold one value, got shape {n_units.shape}")
        return cls(np.asarray(arrays[f"{prefix}/times"]), np.asarray(arrays[f"{prefix}/units"]),
                   int(n_units.reshape(-1)[0]), np.asarray(arrays[f"{prefix}/bounds"]))


def _check_prefix(prefix: str) -> None:
    if not prefix or prefix.endswith("/"):
        raise ValueError(f"prefix must be a non-empty dataset path without a trailing '/', got {prefix!r}")


def total_activity(rasters: Sequence[Raster]) -> np.ndarray:
    """A_tot(t): int64 ``(T,)`` sum of the activities of ``rasters``, which must share their bounds."""
    if not rasters:
        raise ValueError("total_activity needs at least one raster")
    bounds = rasters[0].bounds
    if any(not np.array_equal(raster.bounds, bounds) for raster in rasters[1:]):
        raise ValueError("total_activity needs rasters with identical bounds")
    return np.sum([raster.activity() for raster in rasters], axis=0, dtype=np.int64)
