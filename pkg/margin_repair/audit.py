"""The exact finite-margin audit, recomputed in int64 NumPy from the weights alone.

Nothing here shares code with the repair's compiled loops: scores are gathered from the weights
row block by row block, so the audit checks the repair rather than repeating it. Results have the
seed's shapes (``finite_full_margin_check`` and ``cache_consistency_check``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .table import FactTable

__all__ = ["PREFIX_LENGTH", "cache_consistency_check", "definitional_scores", "finite_margin_check"]

PREFIX_LENGTH = 20
_FACTS_PER_BLOCK = 1 << 20


def definitional_scores(table: FactTable, weights: np.ndarray) -> np.ndarray:
    """``(n, K) int64``: for each row, the sum over its facts of ``weights[fact]``."""
    weights = np.asarray(weights, dtype=np.int64)
    scores = np.zeros((table.n_rows, weights.shape[1]), dtype=np.int64)
    start = 0
    while start < table.n_rows:
        stop = int(np.searchsorted(table.indptr, table.indptr[start] + _FACTS_PER_BLOCK, side="right")) - 1
        stop = min(max(stop, start + 1), table.n_rows)
        offset = table.indptr[start]
        gathered = weights[table.indices[offset : table.indptr[stop]]]
        scores[start:stop] = np.add.reduceat(gathered, table.indptr[start:stop] - offset, axis=0)
        start = stop
    return scores


def finite_margin_check(scores: np.ndarray, labels: np.ndarray, margin: int) -> dict[str, Any]:
    """Every ``(i, c != y_i)`` with ``scores[i, c] + margin > scores[i, y_i]`` is a violation; first 20 listed."""
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    own = scores[rows, labels]
    slack = scores + margin - own[:, None]
    slack[rows, labels] = 0
    violating = np.argwhere(slack > 0)
    prefix = [{"i": int(i), "y": int(labels[i]), "c": int(c), "sy": int(own[i]), "sc": int(scores[i, c]),
               "slack": int(slack[i, c])} for i, c in violating[:PREFIX_LENGTH]]
    return {"ok": len(violating) == 0, "violations_total": int(len(violating)), "violations_prefix": prefix}


def cache_consistency_check(cache: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The repair's cached scores must equal the definitional ones entry by entry; first 20 mismatches listed."""
    cache = np.asarray(cache, dtype=np.int64)
    if cache.shape != scores.shape:
        return {"ok": False, "mismatches_total": int(scores.size),
                "mismatches_prefix": [{"shape_cache": list(cache.shape), "shape_def": list(scores.shape)}]}
    differing = np.argwhere(cache != scores)
    prefix = [{"i": int(i), "c": int(c), "cache": int(cache[i, c]), "def": int(scores[i, c])}
              for i, c in differing[:PREFIX_LENGTH]]
    return {"ok": len(differing) == 0, "mismatches_total": int(len(differing)), "mismatches_prefix": prefix}
