"""Compiled loops of the fast repair (numba): the repair sweep is sequential by nature.

Arrays: ``indptr (n + 1,) int64`` and ``indices (nnz,) int16`` are a :class:`~.table.FactTable`;
``weights (785, K) int64`` holds ``W[feature, class]``; scores are ``(n, K) int64``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["count_violations", "repair_sweep", "score_rows"]


@njit(cache=True, parallel=True)
def score_rows(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Scores ``(n, K)``: row ``i`` is the sum of ``weights[f]`` over the facts ``f`` of row ``i``."""
    n, k = len(indptr) - 1, weights.shape[1]
    scores = np.zeros((n, k), dtype=np.int64)
    for i in prange(n):
        for p in range(indptr[i], indptr[i + 1]):
            feature = indices[p]
            for c in range(k):
                scores[i, c] += weights[feature, c]
    return scores


@njit(cache=True)
def count_violations(scores: np.ndarray, labels: np.ndarray, margin: int) -> int:
    """Pairs ``(i, c != y_i)`` with ``scores[i, c] + margin > scores[i, y_i]``."""
    violations = 0
    for i in range(scores.shape[0]):
        target = scores[i, labels[i]] - margin
        for c in range(scores.shape[1]):
            if c != labels[i] and scores[i, c] > target:
                violations += 1
    return violations


@njit(cache=True)
def repair_sweep(indptr: np.ndarray, indices: np.ndarray, labels: np.ndarray, weights: np.ndarray, margin: int,
                 overshoot_delta: int, updates_total: int, max_updates: int) -> tuple[int, int, int]:
    """One epoch of the seed's repair, in place on ``weights``; returns (updates, max slack, updates total).

    Row by row: the best competitor is the first class of maximal score other than the label; with
    slack ``s = score_c + margin - score_y > 0`` the row's facts move ``ceil(s / n_facts) + overshoot``
    towards the label and away from the competitor. Scores are computed from the current weights
    when a row is visited, which is what the seed's cache holds at that moment. Stops once
    ``updates_total`` reaches ``max_updates`` (checked after an update, as the seed does).
    """
    k = weights.shape[1]
    scores = np.empty(k, dtype=np.int64)
    updates = 0
    max_slack = 0
    for i in range(len(indptr) - 1):
        start, stop = indptr[i], indptr[i + 1]
        scores[:] = 0
        for p in range(start, stop):
            feature = indices[p]
            for c in range(k):
                scores[c] += weights[feature, c]
        label = labels[i]
        rival = -1
        for c in range(k):
            if c != label and (rival < 0 or scores[c] > scores[rival]):
                rival = c
        slack = scores[rival] + margin - scores[label]
        if slack <= 0:
            continue
        n_facts = max(1, stop - start)
        steps = (slack + n_facts - 1) // n_facts + overshoot_delta
        max_slack = max(max_slack, slack)
        for p in range(start, stop):
            weights[indices[p], label] += steps
            weights[indices[p], rival] -= steps
        updates += 1
        updates_total += 1
        if updates_total >= max_updates:
            break
    return updates, max_slack, updates_total
