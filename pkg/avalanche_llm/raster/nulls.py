"""Null rasters: five shuffles, each keeping exactly the marginals it claims, within every segment.

- ``unit_time``: every unit's spike times in a segment become a uniform random set of as many bins
  of that segment (keeps per-unit-per-segment counts; destroys temporal order).
- ``bin_unit``: every bin's active units become a uniform random set of as many units (keeps the
  per-bin counts, hence A(t); destroys unit identity).
- ``both``: Curveball trades (Strona et al. 2014) between the time bins of one segment (keeps both).
- ``time_shift``: every unit's spike train in a segment shifted circularly by its own uniform random
  lag (keeps per-unit-per-segment counts and each unit's own gaps, circularly; destroys the alignment
  of units, hence the population's propagation from bin to bin).
- ``bin_order``: the bins of a segment put in a uniform random order, the same for every unit (keeps
  each bin's set of active units, hence per-unit-per-segment counts and the values of A(t) in each
  segment; destroys temporal order, hence every lagged correlation and every avalanche).

The last two are the nulls of the population metrics (b_tot, avalanches), which ``bin_unit`` and
``both`` cannot change: they keep A(t).

Each takes a ``numpy.random.Generator`` and advances it; the same generator state gives the same null.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from .build import Raster

__all__ = ["CLAIMED_MARGINALS", "NULLS", "bin_order_shuffle", "both_marginals_shuffle", "bin_unit_shuffle",
           "marginals_kept", "time_shift_shuffle", "unit_time_shuffle"]

CLAIMED_MARGINALS: dict[str, tuple[str, ...]] = {
    "unit_time": ("unit_segment_counts",),
    "bin_unit": ("bin_counts",),
    "both": ("unit_segment_counts", "bin_counts"),
    "time_shift": ("unit_segment_counts",),
    "bin_order": ("unit_segment_counts", "segment_bin_values"),
}


def unit_time_shuffle(raster: Raster, rng: np.random.Generator) -> Raster:
    """Each unit's spikes in each segment moved to a uniform random set of as many bins of that segment."""
    n_units, seg_len = raster.n_units, np.diff(raster.bounds)
    group, offset = _random_subsets(raster.segment_unit_counts().ravel(), np.repeat(seg_len, n_units), rng)
    times = raster.bounds[group // n_units] + offset
    flat = np.sort(times * n_units + group % n_units)
    return Raster.from_flat(flat, raster.n_bins, n_units, raster.bounds)


def time_shift_shuffle(raster: Raster, rng: np.random.Generator) -> Raster:
    """Each unit's spikes in each segment shifted circularly by a uniform random lag in [0, segment length),
    one lag per (segment, unit)."""
    segment = raster.segment_of_spikes()
    lengths = np.diff(raster.bounds)
    lags = rng.integers(0, lengths[:, None], size=(lengths.size, raster.n_units))
    local = (raster.times - raster.bounds[segment] + lags[segment, raster.units]) % lengths[segment]
    flat = np.sort((raster.bounds[segment] + local) * raster.n_units + raster.units)
    return Raster.from_flat(flat, raster.n_bins, raster.n_units, raster.bounds)


def bin_order_shuffle(raster: Raster, rng: np.random.Generator) -> Raster:
    """The bins of each segment in a uniform random order (one permutation per segment, shared by all units)."""
    segment_of_bin = np.repeat(np.arange(raster.n_segments), np.diff(raster.bounds))
    old_in_new_order = np.lexsort((rng.random(raster.n_bins), segment_of_bin))
    new_time = np.empty(raster.n_bins, dtype=np.int64)
    new_time[old_in_new_order] = np.arange(raster.n_bins, dtype=np.int64)
    flat = np.sort(new_time[raster.times] * raster.n_units + raster.units)
    return Raster.from_flat(flat, raster.n_bins, raster.n_units, raster.bounds)


def bin_unit_shuffle(raster: Raster, rng: np.random.Generator) -> Raster:
    """Each bin's active units replaced by a uniform random set of as many of the ``n_units`` units."""
    sizes = np.full(raster.n_bins, raster.n_units, dtype=np.int64)
    group, offset = _random_subsets(raster.activity(), sizes, rng)
    return Raster.from_flat(group * raster.n_units + offset, raster.n_bins, raster.n_units, raster.bounds)


def both_marginals_shuffle(raster: Raster, rng: np.random.Generator, trades_per_row: int = 10) -> Raster:
    """Curveball on the (bin x unit) incidence of each segment: per-bin and per-unit-per-segment counts kept.

    The rows are the segment's bins that hold a spike (empty bins cannot trade); a segment with R such
    rows gets ``trades_per_row * R`` trades between two distinct rows drawn uniformly, so a row takes
    part in ``2 * trades_per_row`` trades on average (the default 10 leaves a row untouched with
    probability about e^-20). A trade keeps the units the two rows share and deals the others out
    at random, each row keeping its size.
    """
    if int(trades_per_row) != trades_per_row or trades_per_row < 0:
        raise ValueError(f"trades_per_row must be an integer >= 0, got {trades_per_row}")
    activity = raster.activity()
    indptr = np.concatenate([[0], np.cumsum(activity)])
    rows = np.flatnonzero(activity)
    segment_rows = np.searchsorted(rows, raster.bounds)
    cells = np.array(raster.units)
    _curveball(indptr, cells, rows, segment_rows, int(trades_per_row), raster.n_units, rng)
    flat = np.sort(raster.times * raster.n_units + cells)
    return Raster.from_flat(flat, raster.n_bins, raster.n_units, raster.bounds)


NULLS: dict[str, Callable[[Raster, np.random.Generator], Raster]] = {
    "unit_time": unit_time_shuffle,
    "bin_unit": bin_unit_shuffle,
    "both": both_marginals_shuffle,
    "time_shift": time_shift_shuffle,
    "bin_order": bin_order_shuffle,
}


def marginals_kept(original: Raster, null: Raster, name: str) -> dict[str, bool]:
    """Exact checks: ``unit_segment_counts`` equal, ``bin_counts`` (A(t)) equal, ``segment_bin_values`` (the
    sorted A(t) of every segment) equal, and ``claimed`` (those ``name`` keeps)."""
    if name not in CLAIMED_MARGINALS:
        raise ValueError(f"unknown null {name!r}; known: {sorted(CLAIMED_MARGINALS)}")
    if original.n_units != null.n_units or not np.array_equal(original.bounds, null.bounds):
        raise ValueError("the null raster must have the original's n_units and bounds")
    kept = {
        "unit_segment_counts": bool(np.array_equal(original.segment_unit_counts(), null.segment_unit_counts())),
        "bin_counts": bool(np.array_equal(original.activity(), null.activity())),
        "segment_bin_values": bool(np.array_equal(_sorted_within_segments(original), _sorted_within_segments(null))),
    }
    kept["claimed"] = all(kept[marginal] for marginal in CLAIMED_MARGINALS[name])
    return kept


def _sorted_within_segments(raster: Raster) -> np.ndarray:
    """A(t) sorted within each segment (segments in order): the multiset of bin counts per segment."""
    segment_of_bin = np.repeat(np.arange(raster.n_segments), np.diff(raster.bounds))
    activity = raster.activity()
    return activity[np.lexsort((activity, segment_of_bin))]


def _random_subsets(counts: np.ndarray, sizes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For every group g, independently, a uniform random set of ``counts[g]`` distinct offsets in ``[0, sizes[g])``.

    ``sizes >= 1``. Returns int64 ``(group, offset)`` sorted by group, then offset. A group more than
    half full draws the offsets it leaves out instead, so every draw collides with probability <= 1/2.
    """
    base = np.cumsum(sizes) - sizes
    dense = 2 * counts > sizes
    drawn = _distinct_keys(np.where(dense, sizes - counts, counts), sizes, base, rng)
    if dense.any():
        drawn_dense = dense[np.searchsorted(base, drawn, side="right") - 1]
        lengths = sizes[dense]
        every = np.repeat(base[dense] - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
        kept = np.ones(every.size, dtype=bool)
        kept[np.searchsorted(every, drawn[drawn_dense])] = False
        kept = every[kept]
        drawn = np.sort(np.concatenate([drawn[~drawn_dense], kept]))
    group = np.searchsorted(base, drawn, side="right") - 1
    return group, drawn - base[group]


def _distinct_keys(counts: np.ndarray, sizes: np.ndarray, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted keys ``base[g] + v`` of ``counts[g]`` distinct uniform ``v`` per group (iid draws, deduplicated).

    Each round draws each group's deficit and keeps the new distinct values: the result is the first
    ``counts[g]`` distinct values of an iid uniform sequence, a uniform random subset.
    """
    keys = np.empty(0, dtype=np.int64)
    need = counts
    while (short := np.flatnonzero(need)).size:
        group = np.repeat(short, need[short])
        keys = np.sort(np.concatenate([keys, base[group] + rng.integers(0, sizes[group])]))
        keys = keys[np.diff(keys, prepend=-1) != 0]
        need = counts - np.bincount(np.searchsorted(base, keys, side="right") - 1, minlength=counts.size)
    return keys


@njit(cache=True)
def _curveball(indptr: np.ndarray, cells: np.ndarray, rows: np.ndarray, segment_rows: np.ndarray,
               trades_per_row: int, n_units: int, rng: np.random.Generator) -> None:
    """Curveball trades in place on ``cells``: row r (a bin) holds ``cells[indptr[r]:indptr[r + 1]]``.

    Segment s trades among ``rows[segment_rows[s]:segment_rows[s + 1]]``. Shared units are found by
    stamping: A's units get ``stamp``, B's units that carry it become shared (``stamp + 1``).
    """
    mark = np.zeros(n_units, dtype=np.int64)
    widest = 0
    for r in rows:
        widest = max(widest, indptr[r + 1] - indptr[r])
    pool = np.empty(2 * widest, dtype=np.int64)
    shared = np.empty(widest, dtype=np.int64)
    stamp = 0
    for s in range(segment_rows.size - 1):
        first, n_rows = segment_rows[s], segment_rows[s + 1] - segment_rows[s]
        if n_rows < 2:
            continue
        for _ in range(trades_per_row * n_rows):
            pick_a = rng.integers(0, n_rows)
            pick_b = rng.integers(0, n_rows - 1)
            if pick_b >= pick_a:
                pick_b += 1
            a, b = rows[first + pick_a], rows[first + pick_b]
            stamp += 2
            for p in range(indptr[a], indptr[a + 1]):
                mark[cells[p]] = stamp
            n_shared = 0
            n_pool = 0
            for p in range(indptr[b], indptr[b + 1]):
                unit = cells[p]
                if mark[unit] == stamp:
                    mark[unit] = stamp + 1
                    shared[n_shared] = unit
                    n_shared += 1
                else:
                    pool[n_pool] = unit
                    n_pool += 1
            for p in range(indptr[a], indptr[a + 1]):
                if mark[cells[p]] == stamp:
                    pool[n_pool] = cells[p]
                    n_pool += 1
            if n_pool == 0:
                continue
            n_a_only = indptr[a + 1] - indptr[a] - n_shared
            for j in range(n_a_only):
                pick = j + rng.integers(0, n_pool - j)
                pool[j], pool[pick] = pool[pick], pool[j]
            p = indptr[a]
            for j in range(n_shared):
                cells[p + j] = shared[j]
            for j in range(n_a_only):
                cells[p + n_shared + j] = pool[j]
            p = indptr[b]
            for j in range(n_shared):
                cells[p + j] = shared[j]
            for j in range(n_pool - n_a_only):
                cells[p + n_shared + j] = pool[n_a_only + j]
