"""Rate matching: the threshold that makes exactly ``k = round(target_rate * T * N)`` pairs spike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RateMatch", "rate_matched_spikes"]


@dataclass(frozen=True)
class RateMatch:
    """``k`` spikes at the sorted int64 ``flat_indices`` (``t * N + i``); ``threshold`` is the k-th largest |z|."""

    threshold: float
    k: int
    flat_indices: np.ndarray


def rate_matched_spikes(abs_z: np.ndarray, target_rate: float) -> RateMatch:
    """The ``k = round(target_rate * T * N)`` largest values of ``abs_z (T, N)``, ties to the lower flat index.

    ``round`` is Python's (half to even). O(T * N): one partition finds the k-th largest value, then
    every value above it spikes and the ties at it fill the remaining places in flat-index order.
    """
    if not 0.0 < target_rate < 1.0:
        raise ValueError(f"target_rate must lie in (0, 1), got {target_rate}")
    values = np.asarray(abs_z)
    if values.ndim != 2:
        raise ValueError(f"rate matching expects a 2-D (T, N) array of |z|, got shape {values.shape}")
    flat = values.ravel()
    k = round(target_rate * flat.size)
    if k == 0:
        raise ValueError(f"target_rate {target_rate} on {values.shape[0]} x {values.shape[1]} pairs "
                         f"asks for round({target_rate * flat.size:g}) = 0 spikes; use more tokens or a higher rate")
    if np.isnan(flat).any():
        raise ValueError("abs_z holds NaN: the spikes of a NaN are undefined")
    threshold = np.partition(flat, flat.size - k)[flat.size - k]
    above = np.flatnonzero(flat > threshold)
    ties = np.flatnonzero(flat == threshold)[: k - above.size]
    flat_indices = np.sort(np.concatenate([above, ties])).astype(np.int64, copy=False)
    return RateMatch(threshold=float(threshold), k=k, flat_indices=flat_indices)
