"""Neuronal avalanches of an activity series: maximal runs of active bins framed by silent bins.

``activity`` is ``(T,)`` non-negative integer counts per bin; ``bounds`` (int64, ``(n_segments + 1,)``,
``bounds[0] = 0``, ``bounds[-1] = T``) cuts it into segments that no avalanche crosses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..raster.build import as_bounds

__all__ = ["Avalanches", "find_avalanches", "mean_size_by_duration"]


@dataclass(frozen=True)
class Avalanches:
    """Avalanches in time order, int64 ``(n,)`` each: ``sizes`` (sum of activity), ``durations`` (bins),
    ``starts`` (index of the first bin)."""

    sizes: np.ndarray
    durations: np.ndarray
    starts: np.ndarray


def _counts(activity: np.ndarray) -> np.ndarray:
    """int64 copy of a 1-D array of non-negative integer counts."""
    series = np.asarray(activity)
    if series.ndim != 1:
        raise ValueError(f"activity must be a 1-D (T,) array, got shape {series.shape}")
    if np.issubdtype(series.dtype, np.floating):
        if not np.all(np.isfinite(series)) or np.any(series != np.floor(series)):
            raise ValueError("activity must hold integer counts; got non-integer or non-finite values")
    elif not np.issubdtype(series.dtype, np.integer):
        raise ValueError(f"activity must be an integer (or integer-valued float) array, got {series.dtype}")
    if np.any(series < 0):
        raise ValueError("activity must be non-negative")
    return series.astype(np.int64)


def find_avalanches(activity: np.ndarray, bounds: np.ndarray) -> Avalanches:
    """Every maximal run of bins with ``A > 0`` preceded and followed by a bin with ``A == 0`` in the same segment.

    A run that touches a segment's first or last bin is cut off by the boundary and dropped. Size is
    the sum of ``A`` over the run, duration its number of bins.
    """
    counts = _counts(activity)
    edges = as_bounds(bounds, counts.size)
    active = counts > 0
    segment_first = np.zeros(counts.size, dtype=bool)
    segment_first[edges[:-1]] = True
    segment_last = np.zeros(counts.size, dtype=bool)
    segment_last[edges[1:] - 1] = True
    continues_before = np.zeros(counts.size, dtype=bool)
    continues_before[1:] = active[:-1]
    continues_before &= ~segment_first
    continues_after = np.zeros(counts.size, dtype=bool)
    continues_after[:-1] = active[1:]
    continues_after &= ~segment_last
    starts = np.flatnonzero(active & ~continues_before)
    ends = np.flatnonzero(active & ~continues_after)  # runs never span segments, so starts and ends pair up
    framed = ~segment_first[starts] & ~segment_last[ends]
    starts, ends = starts[framed], ends[framed]
    cumulative = np.concatenate(([0], np.cumsum(counts)))
    return Avalanches(sizes=cumulative[ends + 1] - cumulative[starts], durations=ends - starts + 1, starts=starts)


def mean_size_by_duration(av: Avalanches) -> tuple[np.ndarray, np.ndarray]:
    """``(durations, mean_sizes)``: the distinct durations, ascending (int64), and the mean size of each (float64)."""
    durations, inverse = np.unique(np.asarray(av.durations, dtype=np.int64), return_inverse=True)
    totals = np.bincount(inverse, weights=np.asarray(av.sizes, dtype=np.float64), minlength=durations.size)
    return durations, totals / np.bincount(inverse, minlength=durations.size)
