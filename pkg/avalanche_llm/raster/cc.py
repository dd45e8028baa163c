"""Lagged cross-correlation of layer activities, over time-bin pairs that stay inside one segment."""

from __future__ import annotations

import numpy as np

from .build import as_bounds

__all__ = ["activity_cross_correlation"]


def activity_cross_correlation(activities: np.ndarray, bounds: np.ndarray, max_lag: int) -> np.ndarray:
    """float64 ``(L, L, max_lag + 1)``: entry ``[a, b, k]`` is the Pearson correlation of ``A_a(t)`` and ``A_b(t + k)``.

    ``activities`` is ``(L, T)``. For lag k the pairs are every ``t`` with ``t`` and ``t + k`` in one
    segment; the means and stds are those of ``A_a`` over the ``t`` and of ``A_b`` over the ``t + k``.
    NaN where the correlation is undefined: row ``[a, :, k]`` when ``A_a`` is constant over its ``t``,
    column ``[:, b, k]`` when ``A_b`` is constant over its ``t + k``, and all of lag k when no pair exists.
    """
    series = np.asarray(activities, dtype=np.float64)
    if series.ndim != 2:
        raise ValueError(f"activities must be a 2-D (L, T) array, got shape {series.shape}")
    if int(max_lag) != max_lag or max_lag < 0:
        raise ValueError(f"max_lag must be an integer >= 0, got {max_lag}")
    edges = as_bounds(bounds, series.shape[1])
    n_layers, n_bins = series.shape
    segment_end = np.repeat(edges[1:], np.diff(edges))
    result = np.full((n_layers, n_layers, int(max_lag) + 1), np.nan)
    for lag in range(int(max_lag) + 1):
        starts = np.flatnonzero(np.arange(n_bins) + lag < segment_end)
        if starts.size == 0:
            continue
        x = series[:, starts]
        y = series[:, starts + lag]
        defined = np.outer(np.ptp(x, axis=1) > 0, np.ptp(y, axis=1) > 0)
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        norm = np.outer(np.sqrt(np.square(x).sum(axis=1)), np.sqrt(np.square(y).sum(axis=1)))
        np.divide(x @ y.T, norm, out=result[:, :, lag], where=defined)
    return np.clip(result, -1.0, 1.0, out=result)
