"""A generation's ledger rows and summaries from its candidates' HDF5 artifacts: the one scoring path that
the GEN stage writes with and its verifier recomputes with (``irer.verify``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .artifacts import CandidateArrays
from .ledger import METRIC_COLUMNS, generation_rows, generation_summary, top_candidates
from .settings import HuntSettings
from .validator import candidate_metrics, fitness

__all__ = ["generation_outputs", "scored_rows"]


def scored_rows(settings: HuntSettings, generation: int, params: np.ndarray, candidates: Sequence[CandidateArrays],
                *, run_id: str, artifacts: Sequence[str]) -> pa.Table:
    """The ledger rows of ``generation``: candidate ``i`` (row ``i`` of ``params``, ``(P, n_params)``) scored by
    the validator from its artifact ``candidates[i]``; fitness NaN where the artifact is not finite."""
    metrics = [candidate_metrics(arrays, settings=settings.validator) for arrays in candidates]
    scores = [fitness(m, settings.lambda_falsifiability) if m["finite"] else math.nan for m in metrics]
    return generation_rows(generation, params, param_names=settings.prior.names,
                           metrics={name: [m[name] for m in metrics] for name in METRIC_COLUMNS},
                           fitness=scores, run_id=run_id, artifacts=artifacts, finite=[m["finite"] for m in metrics])


def generation_outputs(ledger: pa.Table, rows: pa.Table, top: int) -> tuple[pa.Table, dict[str, Any]]:
    """What a GEN run writes beside its ledger: the ``top`` best of its own ``rows``, and the last row of
    ``generation_summary(ledger)`` as JSON-safe values (NaN as None)."""
    summary = generation_summary(ledger).to_pylist()[-1]
    safe = {key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in summary.items()}
    return top_candidates(rows, top), safe
