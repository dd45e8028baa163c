"""Spikes: a unit spikes at a token when its ``|z|`` reaches the threshold."""

from __future__ import annotations

import numpy as np

__all__ = ["spike_mask"]


def spike_mask(abs_z: np.ndarray, threshold: float) -> np.ndarray:
    """bool mask of the shape of ``abs_z`` (e.g. ``(tokens, hidden)``): ``abs_z >= threshold``.

    A threshold from :func:`~.rate_match.rate_matched_spikes` gives every pair that ties with the
    k-th largest value, so the mask may hold more than k spikes; use its ``flat_indices`` for exactly k.
    """
    if np.isnan(threshold):
        raise ValueError("spike threshold is NaN")
    return np.asarray(abs_z) >= threshold
