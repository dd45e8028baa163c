"""Compiled discrete margin repair (seed 000, Cell 3), fast: same weights, linear cost per epoch.

The seed keeps a score cache for every table row and pushes each update through the postings of
the updated facts, so one update costs O(finite_n) and an epoch O(finite_n²). Here a row's scores
are summed from the weights when the sweep reaches it (O(facts × classes)), and the whole table is
rescored once per epoch for the violation count; that end-of-epoch table is the cache the audit
checks against an independent recomputation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import kernels
from .table import FactTable
from .weights import nonzero_keys, zero_weights

__all__ = ["RepairKnobs", "RepairResult", "RepairState", "probe_accuracy", "repair"]


@dataclass(frozen=True)
class RepairKnobs:
    """The loop's knobs: the margin to reach, the overshoot added to each step, and the two budgets."""

    margin: int = 1
    overshoot_delta: int = 2
    max_epochs: int = 50
    max_updates: int = 20_000


@dataclass
class RepairState:
    """Where the repair stands after a whole epoch: enough to resume it with the same outcome."""

    weights: np.ndarray  # (785, K) int64
    epochs: list[dict[str, Any]] = field(default_factory=list)
    updates_total: int = 0
    best_epoch: int | None = None
    best_probe_acc: float = -math.inf
    best_weights: np.ndarray | None = None
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (no NaN or infinity) for a checkpoint."""
        return {
            "weights": self.weights.tolist(),
            "epochs": [{**row, "probe_acc": _finite_or_none(row["probe_acc"])} for row in self.epochs],
            "updates_total": self.updates_total,
            "best_epoch": self.best_epoch,
            "best_probe_acc": _finite_or_none(self.best_probe_acc),
            "best_weights": None if self.best_weights is None else self.best_weights.tolist(),
            "finished": self.finished,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RepairState":
        return cls(
            weights=np.array(data["weights"], dtype=np.int64),
            epochs=[{**row, "probe_acc": math.nan if row["probe_acc"] is None else row["probe_acc"]}
                    for row in data["epochs"]],
            updates_total=data["updates_total"],
            best_epoch=data["best_epoch"],
            best_probe_acc=-math.inf if data["best_probe_acc"] is None else data["best_probe_acc"],
            best_weights=None if data["best_weights"] is None else np.array(data["best_weights"], dtype=np.int64),
            finished=data["finished"],
        )

    def best_or_final_weights(self) -> np.ndarray:
        """The weights of the best probe epoch, or the final ones when no epoch improved on -inf."""
        return self.weights if self.best_weights is None else self.best_weights


@dataclass(frozen=True)
class RepairResult:
    state: RepairState
    scores: np.ndarray  # (n, K) int64: the table's scores under the final weights (the cache)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def probe_accuracy(probe: FactTable, probe_labels: np.ndarray, weights: np.ndarray) -> float:
    """Share of probe rows whose first-maximum class is their label (NaN for an empty probe set)."""
    if probe.n_rows == 0:
        return math.nan
    predicted = np.argmax(kernels.score_rows(probe.indptr, probe.indices, weights), axis=1)
    return int(np.count_nonzero(predicted == probe_labels)) / probe.n_rows


def repair(table: FactTable, labels: np.ndarray, probe: FactTable, probe_labels: np.ndarray, n_classes: int,
           knobs: RepairKnobs, *, resume: RepairState | None = None,
           on_epoch: Callable[[RepairState], None] | None = None) -> RepairResult:
    """Run the repair epochs (or continue ``resume``); ``on_epoch`` sees the state after each epoch.

    ``labels`` are the table rows' classes ``(n,)``; ``n_classes`` must be at least 2.
    """
    if n_classes < 2:
        raise ValueError(f"margin repair needs at least 2 classes, got {n_classes}")
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    probe_labels = np.asarray(probe_labels, dtype=np.int64)
    state = resume if resume is not None else RepairState(weights=zero_weights(n_classes))
    scores = kernels.score_rows(table.indptr, table.indices, state.weights)
    violations = kernels.count_violations(scores, labels, knobs.margin)
    while not state.finished and len(state.epochs) < knobs.max_epochs:
        started = time.perf_counter()
        epoch = len(state.epochs) + 1
        updates, max_slack, state.updates_total = kernels.repair_sweep(
            table.indptr, table.indices, labels, state.weights, knobs.margin, knobs.overshoot_delta,
            state.updates_total, knobs.max_updates)
        scores = kernels.score_rows(table.indptr, table.indices, state.weights)
        violations_before, violations = violations, kernels.count_violations(scores, labels, knobs.margin)
        accuracy = probe_accuracy(probe, probe_labels, state.weights)
        if accuracy > state.best_probe_acc:
            state.best_epoch, state.best_probe_acc, state.best_weights = epoch, accuracy, state.weights.copy()
        state.epochs.append({
            "epoch": epoch, "updates": int(updates), "viol_before": int(violations_before),
            "viol_after": int(violations), "max_slack_seen": int(max_slack), "probe_acc": accuracy,
            "seconds": time.perf_counter() - started, "w_keys": nonzero_keys(state.weights),
        })
        state.finished = (state.updates_total >= knobs.max_updates or violations == 0
                          or epoch >= knobs.max_epochs)
        if on_epoch is not None:
            on_epoch(state)
    return RepairResult(state=state, scores=scores)
