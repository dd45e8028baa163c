"""Reference port of seed 000's repair (Cell 3), kept readable and faithful, quadratic cost included.

Weights live in a dict ``(class, fact) -> int``, every row's scores in a cache, and each update is
pushed through the postings of the updated facts into every row that holds them. The fast
implementation (:mod:`.repair`) must reproduce its weights exactly; tests and the benchmark compare
the two.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from .features import hash_obj, stable_json
from .repair import RepairKnobs

__all__ = ["ReferenceResult", "fi_hash_reference", "repair_reference", "weights_hash_reference"]

Weights = dict[tuple[int, str], int]


@dataclass(frozen=True)
class ReferenceResult:
    weights: Weights
    best_weights: Weights
    best_epoch: int | None
    best_probe_acc: float
    epochs: list[dict[str, Any]]
    cache: list[list[int]]  # (n, K) scores maintained through the postings


def weights_hash_reference(weights: Weights) -> str:
    """The seed's ``_hash_weights``: sorted (class, fact, weight) triples with weight != 0."""
    items = sorted((c, f, w) for (c, f), w in weights.items() if w != 0)
    return hashlib.sha256(stable_json(items).encode("utf-8")).hexdigest()


def fi_hash_reference(facts: Sequence[list[str]]) -> str:
    return hash_obj({"finite_n": len(facts), "facts": list(facts)})


def _scores(weights: Weights, facts: list[str], n_classes: int) -> list[int]:
    return [sum(weights.get((c, f), 0) for f in facts) for c in range(n_classes)]


def _first_max(scores: list[int]) -> int:
    return max(range(len(scores)), key=lambda c: (scores[c], -c))


def _best_rival(scores: list[int], label: int) -> int:
    rivals = [c for c in range(len(scores)) if c != label]
    return max(rivals, key=lambda c: (scores[c], -c))


def _violations(cache: list[list[int]], labels: Sequence[int], margin: int) -> int:
    return sum(1 for row, y in zip(cache, labels) for c, score in enumerate(row) if c != y and score + margin > row[y])


def _accuracy(weights: Weights, probe: Sequence[tuple[list[str], int]], n_classes: int) -> float:
    if not probe:
        return math.nan
    correct = sum(_first_max(_scores(weights, facts, n_classes)) == y for facts, y in probe)
    return correct / len(probe)


def repair_reference(facts: Sequence[list[str]], labels: Sequence[int], probe: Sequence[tuple[list[str], int]],
                     n_classes: int, knobs: RepairKnobs) -> ReferenceResult:
    """Seed 000's epochs of compiled discrete margin repair over the table ``facts`` / ``labels``."""
    postings: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(facts):
        for f in row:
            postings[f].append(i)
    weights: Weights = {}
    cache = [[0] * n_classes for _ in facts]
    epochs: list[dict[str, Any]] = []
    best_epoch, best_acc, best_weights = None, -math.inf, None
    updates_total = 0
    for epoch in range(1, knobs.max_epochs + 1):
        started = time.perf_counter()
        violations_before = _violations(cache, labels, knobs.margin)
        updates = max_slack = 0
        for i, row in enumerate(facts):
            y = labels[i]
            rival = _best_rival(cache[i], y)
            slack = cache[i][rival] + knobs.margin - cache[i][y]
            if slack <= 0:
                continue
            steps = max(1, math.ceil(slack / max(1, len(row)))) + knobs.overshoot_delta
            max_slack = max(max_slack, slack)
            for f in row:
                weights[(y, f)] = weights.get((y, f), 0) + steps
                weights[(rival, f)] = weights.get((rival, f), 0) - steps
                for j in postings[f]:
                    cache[j][y] += steps
                    cache[j][rival] -= steps
            updates += 1
            updates_total += 1
            if updates_total >= knobs.max_updates:
                break
        violations_after = _violations(cache, labels, knobs.margin)
        accuracy = _accuracy(weights, probe, n_classes)
        if accuracy > best_acc:
            best_epoch, best_acc, best_weights = epoch, accuracy, dict(weights)
        epochs.append({
            "epoch": epoch, "updates": updates, "viol_before": violations_before, "viol_after": violations_after,
            "max_slack_seen": max_slack, "probe_acc": accuracy, "seconds": time.perf_counter() - started,
            "w_keys": sum(1 for w in weights.values() if w != 0),
        })
        if updates_total >= knobs.max_updates or violations_after == 0:
            break
    return ReferenceResult(weights=weights, best_weights=best_weights if best_weights is not None else weights,
                           best_epoch=best_epoch, best_probe_acc=best_acc, epochs=epochs, cache=cache)
