"""The int64 audit: definitional scores, the margin check and the cache check, against plain loops."""

from __future__ import annotations

import numpy as np

from margin_repair import audit as audit_module
from margin_repair.audit import cache_consistency_check, definitional_scores, finite_margin_check
from margin_repair.table import build_fact_table


def _table_and_weights(seed: int = 0, n: int = 40, n_classes: int = 4):
    rng = np.random.default_rng(seed)
    images = (rng.integers(0, 256, size=(n, 28, 28)) * (rng.random((n, 28, 28)) < 0.2)).astype(np.uint8)
    weights = rng.integers(-2**40, 2**40, size=(785, n_classes), dtype=np.int64)
    return build_fact_table(images, bin_threshold=127, cap_unary=30), weights, rng.integers(0, n_classes, size=n)


def test_definitional_scores_equal_a_plain_sum_across_blocks(monkeypatch):
    table, weights, _ = _table_and_weights()
    expected = np.array([[sum(int(weights[f, c]) for f in table.row(i)) for c in range(4)] for i in range(table.n_rows)])
    monkeypatch.setattr(audit_module, "_FACTS_PER_BLOCK", 7)  # many blocks, some shorter than one row
    assert np.array_equal(definitional_scores(table, weights), expected)
    monkeypatch.setattr(audit_module, "_FACTS_PER_BLOCK", 1 << 20)
    assert np.array_equal(definitional_scores(table, weights), expected)


def test_margin_check_prefix_and_totals():
    scores = np.array([[5, 5, 0], [9, 1, 8], [0, 0, 0]], dtype=np.int64)
    check = finite_margin_check(scores, np.array([0, 0, 2]), margin=2)
    # row 0: c=1 slack 2, c=2 slack -3; row 1: c=1 -6, c=2 1; row 2: c=0 2, c=1 2
    assert check["violations_total"] == 4
    assert check["violations_prefix"] == [
        {"i": 0, "y": 0, "c": 1, "sy": 5, "sc": 5, "slack": 2},
        {"i": 1, "y": 0, "c": 2, "sy": 9, "sc": 8, "slack": 1},
        {"i": 2, "y": 2, "c": 0, "sy": 0, "sc": 0, "slack": 2},
        {"i": 2, "y": 2, "c": 1, "sy": 0, "sc": 0, "slack": 2},
    ]
    assert finite_margin_check(scores, np.array([0, 0, 2]), margin=-10)["ok"] is True


def test_margin_check_lists_at_most_twenty():
    scores = np.zeros((30, 3), dtype=np.int64)
    check = finite_margin_check(scores, np.zeros(30, dtype=np.int64), margin=1)
    assert check["violations_total"] == 60 and len(check["violations_prefix"]) == 20


def test_cache_check_finds_a_tampered_entry():
    table, weights, _ = _table_and_weights(seed=1)
    scores = definitional_scores(table, weights)
    assert cache_consistency_check(scores.copy(), scores) == {"ok": True, "mismatches_total": 0, "mismatches_prefix": []}
    cache = scores.copy()
    cache[7, 2] += 1
    check = cache_consistency_check(cache, scores)
    assert check["ok"] is False and check["mismatches_total"] == 1
    assert check["mismatches_prefix"] == [{"i": 7, "c": 2, "cache": int(scores[7, 2]) + 1, "def": int(scores[7, 2])}]
    assert cache_consistency_check(cache[:5], scores)["ok"] is False
