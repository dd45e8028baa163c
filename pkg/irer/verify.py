"""``runlab verify`` of the hunt's runs: what follows from the raw fields is recomputed from them.

GEN link ``g``: its ledger's rows of generations ``< g`` are the previous link's ledger; its candidates are
the ones the GA breeds from that ledger, cached exactly where the ledger already held their parameters;
every candidate's metrics and fitness come out again when the validator re-reads its K field files (a
cached row's in the earlier run that integrated them); its top table and summary follow from the ledger.
REPORT: its tables follow from the last link's ledger. Each broken rule is one problem line.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from runlab import RunView, parquet_bytes

from .artifacts import read_candidate
from .evaluation import generation_outputs, reuse_plan, score_candidate, scored_rows
from .hunter import initial_population, next_generation
from .ledger import METRIC_COLUMNS, empty_ledger, param_column, read_ledger
from .settings import HuntSettings
from .stages import LEDGER, SUMMARY, report_tables

__all__ = ["verify_generation", "verify_report"]

# Recomputed metrics agree with the ledger to this relative tolerance (NumPy's FFT may round differently
# on another machine); a ledger that does not follow from its fields is off by far more.
RTOL = 1e-9


def verify_generation(view: RunView) -> list[str]:
    """Problem lines of a complete GEN run (empty when its ledger follows from its candidates' HDF5 files)."""
    settings = HuntSettings.from_config(view.config)
    names = settings.prior.names
    ledger = read_ledger(view.read_bytes(LEDGER), names)
    previous_ids = list(view.record["upstream_run_ids"])
    earlier = read_ledger(view.upstream(previous_ids[0]).read_bytes(LEDGER), names) if previous_ids else empty_ledger(names)
    generation = len(np.unique(earlier.column("generation").to_numpy()))
    problems = []
    if not ledger.slice(0, earlier.num_rows).equals(earlier):
        problems.append(f"{LEDGER}: its rows before generation {generation} are not the previous link's ledger")
    stored = ledger.slice(earlier.num_rows)
    params = (initial_population(settings.prior, settings.ga, generation) if generation == 0
              else next_generation(earlier, settings.prior, settings.ga, generation))
    bred = np.stack([stored.column(param_column(name)).to_numpy() for name in names], axis=1)
    if bred.shape != params.shape or not np.array_equal(bred, params):
        return problems + [f"{LEDGER}: generation {generation}'s parameters are not the ones the GA breeds from the "
                           "previous ledger"]
    plan = reuse_plan(earlier, params, names)
    if stored.column("cached").to_pylist() != [source is not None for source in plan]:
        problems.append(f"{LEDGER}: its cached flags are not the parameters the ledger already held")
    rows = stored.to_pylist()
    scores, artifacts = {}, {}
    for index, row in enumerate(rows):  # every row, cached ones too, scored again from the files it names
        fields = [read_candidate(_run(view, row["run_id"]).read_bytes(path)) for path in row["artifacts"]]
        problems += _file_problems(index, row, fields, params[index], settings)
        scores[index], artifacts[index] = score_candidate(settings, fields), row["artifacts"]
    recomputed = scored_rows(settings, generation, params, earlier, [None] * len(rows), scores, run_id=view.run_id,
                             artifacts=artifacts)
    problems += _row_problems(stored, recomputed)
    top, summary = generation_outputs(ledger, stored, settings.top_candidates)
    if parquet_bytes(top) != view.read_bytes("tables/top_candidates.parquet"):
        problems.append("tables/top_candidates.parquet: not the best candidates of the generation's ledger rows")
    if json.loads(view.read_bytes(SUMMARY)) != summary:
        problems.append(f"{SUMMARY}: not the summary of the ledger")
    return problems


def verify_report(view: RunView) -> list[str]:
    """Problem lines of a complete REPORT run: each table against the one rebuilt from the last link's ledger."""
    (last,) = view.record["upstream_run_ids"]
    ledger = read_ledger(view.upstream(last).read_bytes(LEDGER))
    tables = report_tables(ledger, int(view.config["irer"]["hunt"]["top_candidates"]))
    return [f"tables/{name}.parquet: not what the ledger of {last} gives" for name, table in tables.items()
            if parquet_bytes(table) != view.read_bytes(f"tables/{name}.parquet")]


def _run(view: RunView, run_id: str) -> RunView:
    """This run, or the complete earlier generation ``run_id`` whose files a cached row names."""
    if run_id == view.run_id:
        return view
    return RunView(view.store, run_id, view.store.complete_record(run_id, needed_by=view.run_id))


def _file_problems(index: int, row: dict, fields: list, params: np.ndarray, settings: HuntSettings) -> list[str]:
    """Lines for field files that are not candidate ``index``'s K integrations from the hunt's fields."""
    names = settings.prior.names
    wrong = [path for field, (path, arrays) in enumerate(zip(row["artifacts"], fields))
             if arrays.field != field or arrays.seed != settings.ga.seed
             or [arrays.params.get(name) for name in names] != params.tolist()]
    if len(fields) != settings.initial_fields:
        wrong.append(f"{len(fields)} files for {settings.initial_fields} initial fields")
    return [f"{LEDGER}: candidate {index} names files of other parameters, fields or seed: {wrong[:3]}"] if wrong else []


def _row_problems(stored: pa.Table, recomputed: pa.Table) -> list[str]:
    """One line per ledger column of this generation whose stored values differ from the recomputed ones."""
    problems = []
    for name in ("finite", *METRIC_COLUMNS, "field_fitness", "fitness", "fitness_sd"):
        ours, theirs = (np.array(table.column(name).to_pylist(), dtype=float) for table in (stored, recomputed))
        same = np.isclose(ours, theirs, rtol=RTOL, atol=0.0, equal_nan=True)
        same = same.all(axis=1) if same.ndim == 2 else same
        if not np.all(same):
            rows = stored.column("candidate").to_numpy()[~same].tolist()
            problems.append(f"{LEDGER}: {name} of candidate(s) {rows[:5]} does not follow from their HDF5 files "
                            f"(stored {ours[~same][:2].tolist()}, recomputed {theirs[~same][:2].tolist()})")
    return problems
