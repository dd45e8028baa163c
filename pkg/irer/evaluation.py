"""A generation's ledger rows from its candidates' HDF5 files, and what is served from the ledger instead.

The one scoring path the GEN stage writes with and its verifier (``irer.verify``) recomputes with. A
candidate is scored from its K field files: the validator's metrics per field (its nulls per field too),
the fitness per field, and their mean and spread. Parameters already in the ledger (or earlier in the same
generation) are not integrated again: :func:`reuse_plan` finds them and their rows are copied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .artifacts import CandidateArrays
from .ledger import METRIC_COLUMNS, flat_rows, generation_rows, generation_summary, param_column, top_candidates
from .settings import HuntSettings
from .validator import candidate_metrics, fitness

__all__ = ["CandidateScore", "generation_outputs", "reuse_plan", "score_candidate", "scored_rows"]

CandidateScore = dict[str, Any]
"""``{metric: (K,) array for each of METRIC_COLUMNS, "field_fitness": (K,), "finite": bool}``."""


def score_candidate(settings: HuntSettings, fields: Sequence[CandidateArrays]) -> CandidateScore:
    """The validator's metrics and the fitness of each of a candidate's K field files (field order); the
    candidate is finite when every field is (a candidate that blows up from one initial field is unstable)."""
    metrics = [candidate_metrics(arrays, settings=settings.validator) for arrays in fields]
    score: CandidateScore = {name: np.array([m[name] for m in metrics], dtype=np.float64) for name in METRIC_COLUMNS}
    score["field_fitness"] = np.array([fitness(m, settings.lambda_falsifiability) if m["finite"] else math.nan
                                       for m in metrics])
    score["finite"] = all(m["finite"] for m in metrics)
    return score


def reuse_plan(ledger: pa.Table, params: np.ndarray, param_names: Sequence[str]) -> list[tuple[str, int] | None]:
    """For each candidate (row of ``params``, ``(P, n_params)``): ``("ledger", row)`` when a ledger row has the
    same parameters bit for bit (the first such row), ``("generation", i)`` when candidate ``i < j`` of this
    generation has, else None (integrate it). Every ledger row was evaluated under this hunt's config."""
    earlier = np.stack([ledger.column(param_column(name)).to_numpy() for name in param_names], axis=1)
    seen = {row.tobytes(): ("ledger", index) for index, row in reversed(list(enumerate(earlier)))}
    plan: list[tuple[str, int] | None] = []
    for index, row in enumerate(np.asarray(params, dtype=np.float64)):
        key = row.tobytes()
        plan.append(seen.get(key))
        seen.setdefault(key, ("generation", index))
    return plan


def scored_rows(settings: HuntSettings, generation: int, params: np.ndarray, ledger: pa.Table,
                plan: Sequence[tuple[str, int] | None], scores: Mapping[int, CandidateScore], *, run_id: str,
                artifacts: Mapping[int, Sequence[str]]) -> pa.Table:
    """The ledger rows of ``generation``: candidate ``j`` scored from its own files (``scores[j]``, files
    ``artifacts[j]`` in run ``run_id``) where ``plan[j]`` is None, else copied from the row it names."""
    earlier = ledger.to_pylist()
    names = (*METRIC_COLUMNS, "field_fitness")
    rows: list[dict[str, Any]] = []
    for index, source in enumerate(plan):
        if source is None:
            score = scores[index]
            rows.append({**{name: score[name] for name in names}, "finite": score["finite"], "run_id": run_id,
                         "artifacts": list(artifacts[index]), "cached": False})
        else:
            kind, position = source
            copied = earlier[position] if kind == "ledger" else rows[position]
            rows.append({**{name: copied[name] for name in (*names, "finite", "run_id", "artifacts")}, "cached": True})
    field_fitness = np.array([row["field_fitness"] for row in rows], dtype=np.float64)
    finite = [bool(row["finite"]) and bool(np.isfinite(np.mean(row["field_fitness"]))) for row in rows]
    return generation_rows(generation, params, param_names=settings.prior.names,
                           metrics={name: np.array([row[name] for row in rows], dtype=np.float64)
                                    for name in METRIC_COLUMNS},
                           fitness=field_fitness, run_id=[row["run_id"] for row in rows],
                           artifacts=[row["artifacts"] for row in rows], cached=[row["cached"] for row in rows],
                           finite=finite)


def generation_outputs(ledger: pa.Table, rows: pa.Table, top: int) -> tuple[pa.Table, dict[str, Any]]:
    """What a GEN run writes beside its ledger: the ``top`` best of its own ``rows`` (``flat_rows``), and the last
    row of ``generation_summary(ledger)`` with the candidates it integrated and those the ledger served, as
    JSON-safe values (NaN as None)."""
    summary = generation_summary(ledger).to_pylist()[-1]
    cached = rows.column("cached").to_pylist()
    summary.update(integrated=cached.count(False), served_from_ledger=cached.count(True))
    safe = {key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in summary.items()}
    return flat_rows(top_candidates(rows, top)), safe
