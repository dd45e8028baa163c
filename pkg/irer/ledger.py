"""The hunt ledger: one row per candidate ever evaluated, as an Arrow table written to Parquet.

Generation ``g`` of the hunt is one run; its ledger artifact is the ledger of generation ``g - 1``
with generation ``g``'s rows appended. Nothing here touches a file: functions take and return
tables or bytes, and the caller writes them through the run store (so a ledger is never rewritten
in place, unlike the seed's CSV). The same table always gives the same bytes.

Columns, in this order (``spec/irer/hunter.md`` is the reference):

- ``generation``, ``candidate`` (int32): the generation and the candidate's row in it; rows are
  sorted by both, generations run 0..G-1 and candidates 0..P_g-1 with none missing.
- ``param_<name>`` (float64, finite): one per prior parameter, in the prior's order.
- ``log_prime_sse``, ``sdg_h_norm_l2``, ``sse_null_phase_scramble``, ``sse_null_target_shuffle``,
  ``field_fitness`` (list<float64>, one value per initial field, the same K in every row; NaN allowed).
- ``fitness`` (float64): the mean of ``field_fitness``; ``fitness_sd`` (float64): their sample standard
  deviation (ddof 1; 0 when K is 1). NaN allowed.
- ``finite`` (bool): the candidate counts for selection, summaries and ``best``; true only where
  ``fitness`` is finite.
- ``cached`` (bool): the row's parameters were evaluated before under the same config (an earlier row of
  the ledger, or an earlier candidate of its generation), and that evaluation was copied, not recomputed.
- ``run_id`` (string): the run holding the candidate's files (for a cached row, the run that integrated
  them); ``artifacts`` (list<string>): the K HDF5 paths relative to that run's directory, field order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runlab import SchemaError, parquet_bytes

__all__ = [
    "METRIC_COLUMNS",
    "SCHEMA_VERSION",
    "append_generations",
    "best",
    "empty_ledger",
    "flat_rows",
    "generation_rows",
    "generation_summary",
    "ledger_bytes",
    "ledger_param_names",
    "ledger_schema",
    "param_column",
    "rank_candidates",
    "read_ledger",
    "top_candidates",
    "validate_ledger",
]

SCHEMA_VERSION = 2
METRIC_COLUMNS = ("log_prime_sse", "sdg_h_norm_l2", "sse_null_phase_scramble", "sse_null_target_shuffle")

_VERSION_KEY = b"irer_ledger_schema_version"
_FLOATS = pa.list_(pa.float64())
_STRINGS = pa.list_(pa.string())
_PARAM_PREFIX = "param_"
_HINT = "write ledgers with irer.ledger.ledger_bytes; a ledger from an older schema must be rebuilt"


def param_column(name: str) -> str:
    """The ledger column of prior parameter ``name``: ``param_<name>``."""
    return _PARAM_PREFIX + name


def ledger_schema(param_names: Sequence[str]) -> pa.Schema:
    """The Arrow schema of a ledger over ``param_names`` (the prior's order), ``schema_version`` in its metadata."""
    if not param_names:
        raise ValueError("a ledger needs at least one parameter")
    fields = [pa.field("generation", pa.int32(), nullable=False), pa.field("candidate", pa.int32(), nullable=False)]
    fields += [pa.field(param_column(name), pa.float64(), nullable=False) for name in param_names]
    fields += [pa.field(name, _FLOATS, nullable=False) for name in (*METRIC_COLUMNS, "field_fitness")]
    fields += [pa.field(name, pa.float64(), nullable=False) for name in ("fitness", "fitness_sd")]
    fields += [
        pa.field("finite", pa.bool_(), nullable=False),
        pa.field("cached", pa.bool_(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("artifacts", _STRINGS, nullable=False),
    ]
    return pa.schema(fields, metadata={_VERSION_KEY: str(SCHEMA_VERSION).encode()})


def empty_ledger(param_names: Sequence[str]) -> pa.Table:
    """A ledger with no rows: the history before generation 0."""
    return ledger_schema(param_names).empty_table()


def generation_rows(
    generation: int,
    params: np.ndarray,
    *,
    param_names: Sequence[str],
    metrics: Mapping[str, Sequence[Any] | np.ndarray],
    fitness: Sequence[Any] | np.ndarray,
    run_id: str | Sequence[str],
    artifacts: Sequence[str | Sequence[str]],
    finite: Sequence[bool] | np.ndarray | None = None,
    cached: Sequence[bool] | np.ndarray | None = None,
) -> pa.Table:
    """The ledger rows of one evaluated generation: candidate ``i`` is row ``i`` of ``params`` (P, n_params).

    ``metrics`` maps each of :data:`METRIC_COLUMNS` to ``(P, K)`` values, one per initial field, and
    ``fitness`` is the ``(P, K)`` fitness per field (NaN where a field has none); ``(P,)`` means K = 1.
    ``fitness`` and ``fitness_sd`` of a row are the mean and sample standard deviation over its fields.
    ``run_id`` (one, or one per row) and ``artifacts`` (per row, K paths, or one path when K = 1) say where
    the files are; ``cached`` (default none) marks rows copied from an earlier evaluation. ``finite``
    defaults to "mean fitness and every metric finite"; given, it may only be true where fitness is.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != len(param_names):
        raise ValueError(f"params has shape {params.shape}; expected (P, {len(param_names)}) for {tuple(param_names)}")
    count = params.shape[0]
    if set(metrics) != set(METRIC_COLUMNS):
        raise ValueError(f"metrics has keys {sorted(metrics)}; expected exactly {list(METRIC_COLUMNS)}")
    per_field = _per_field(fitness, "fitness", count)
    values = {name: _per_field(metrics[name], name, count, per_field.shape[1]) for name in METRIC_COLUMNS}
    with np.errstate(invalid="ignore"):
        mean = per_field.mean(axis=1)
        spread = per_field.std(axis=1, ddof=1) if per_field.shape[1] > 1 else np.zeros(count)
    if finite is None:
        finite_flags = np.isfinite(mean) & np.logical_and.reduce([np.isfinite(v).all(axis=1) for v in values.values()])
    else:
        finite_flags = _column(finite, "finite", count, np.bool_)
    if len(artifacts) != count:
        raise ValueError(f"artifacts has {len(artifacts)} entries; expected one per candidate ({count})")
    run_ids = [run_id] * count if isinstance(run_id, str) else list(run_id)
    columns: dict[str, Any] = {
        "generation": np.full(count, generation, dtype=np.int32),
        "candidate": np.arange(count, dtype=np.int32),
    }
    columns.update({param_column(name): params[:, index] for index, name in enumerate(param_names)})
    columns.update({name: list(array) for name, array in values.items()})
    columns.update({"field_fitness": list(per_field), "fitness": mean, "fitness_sd": spread, "finite": finite_flags,
                    "cached": np.zeros(count, bool) if cached is None else _column(cached, "cached", count, np.bool_),
                    "run_id": run_ids,
                    "artifacts": [[paths] if isinstance(paths, str) else list(paths) for paths in artifacts]})
    schema = ledger_schema(param_names)
    try:
        table = pa.table(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise ValueError(f"generation {generation} rows do not fit the ledger schema: {_first_line(err)}") from err
    return _canonical(validate_ledger(table, param_names, contiguous=False), param_names)


def _per_field(values: Sequence[Any] | np.ndarray, name: str, count: int, fields: int | None = None) -> np.ndarray:
    """``values`` as a float64 ``(count, K)`` array (a ``(count,)`` one is K = 1), K = ``fields`` when given."""
    array = np.asarray(values, dtype=np.float64)
    array = array[:, None] if array.ndim == 1 else array
    if array.ndim != 2 or array.shape[0] != count or array.shape[1] < 1 or fields not in (None, array.shape[1]):
        expected = f"({count}, {fields if fields else 'K'})"
        raise ValueError(f"{name} has shape {np.shape(values)}; expected {expected}, one value per candidate and field")
    return array


def append_generations(ledger: pa.Table, *generations: pa.Table) -> pa.Table:
    """A new ledger: ``ledger`` with the rows of ``generations`` added (each a `generation_rows` table),
    sorted by (generation, candidate). A generation already in the ledger is a SchemaError."""
    names = ledger_param_names(ledger)
    present = set(np.unique(_numpy(ledger, "generation")).tolist())
    parts = [_canonical(validate_ledger(ledger, names), names)]
    for table in generations:
        validate_ledger(table, names, contiguous=False)
        added = set(np.unique(_numpy(table, "generation")).tolist())
        if added & present:
            raise SchemaError(f"generation(s) {sorted(added & present)} are already in the ledger",
                              "a generation is appended once; breed and evaluate the next one instead")
        present |= added
        parts.append(_canonical(table, names))
    combined = pa.concat_tables(parts).sort_by([("generation", "ascending"), ("candidate", "ascending")])
    return validate_ledger(_canonical(combined, names), names)


def ledger_bytes(ledger: pa.Table) -> bytes:
    """The ledger as Parquet bytes (`runlab.formats.parquet_bytes`): validated first, schema metadata
    reset to this module's, so the same rows always give the same bytes."""
    table = validate_ledger(ledger)
    return parquet_bytes(_canonical(table, ledger_param_names(table)))


def read_ledger(data: bytes, param_names: Sequence[str] | None = None) -> pa.Table:
    """The validated ledger in Parquet ``data``; with ``param_names``, its parameters must be those, in order."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as err:
        raise SchemaError(f"ledger is not a readable Parquet file ({_first_line(err)})", _HINT) from err
    return validate_ledger(table, param_names)


def ledger_param_names(ledger: pa.Table) -> tuple[str, ...]:
    """The prior parameter names of ``ledger``, from its ``param_<name>`` columns, in column order."""
    return tuple(name[len(_PARAM_PREFIX):] for name in ledger.column_names if name.startswith(_PARAM_PREFIX))


def validate_ledger(
    table: pa.Table, param_names: Sequence[str] | None = None, *, contiguous: bool = True
) -> pa.Table:
    """``table`` if it is a ledger (columns, types, schema version, values as the module docstring says),
    else a one-line SchemaError. ``contiguous=False`` accepts any generation numbers (a slice of rows)."""
    names = ledger_param_names(table) if param_names is None else tuple(param_names)
    if not names:
        raise SchemaError("ledger has no param_<name> columns", _HINT)
    expected = ledger_schema(names)
    version = (table.schema.metadata or {}).get(_VERSION_KEY)
    if version != str(SCHEMA_VERSION).encode():
        found = "no schema_version" if version is None else f"schema_version {version.decode(errors='replace')}"
        raise SchemaError(f"ledger has {found}; expected {SCHEMA_VERSION}", _HINT)
    if table.column_names != expected.names:
        raise SchemaError(f"ledger columns are {table.column_names}; expected {expected.names}", _HINT)
    for field in expected:
        column = table.column(field.name)
        if column.type != field.type:
            raise SchemaError(f"ledger column {field.name!r} has type {column.type}; expected {field.type}", _HINT)
        if column.null_count:
            raise SchemaError(f"ledger column {field.name!r} has {column.null_count} null value(s)",
                              "a missing number is NaN, never null")
    _check_values(table, names, contiguous)
    return table


def rank_candidates(fitness: np.ndarray, generation: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Row indices of the candidates with finite ``fitness``, best first: fitness descending, then
    earliest generation, then lowest candidate index. The one ranking of the hunt (elites, ``best``)."""
    fitness = np.asarray(fitness, dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(fitness))
    order = np.lexsort((np.asarray(candidate)[rows], np.asarray(generation)[rows], -fitness[rows]))
    return rows[order]


def top_candidates(ledger: pa.Table, n: int) -> pa.Table:
    """The ``n`` best rows of ``ledger`` among those marked ``finite``, in `rank_candidates` order."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    fitness = np.where(_numpy(ledger, "finite"), _numpy(ledger, "fitness"), np.nan)
    order = rank_candidates(fitness, _numpy(ledger, "generation"), _numpy(ledger, "candidate"))
    return ledger.take(pa.array(order[:n], type=pa.int64()))


def flat_rows(rows: pa.Table) -> pa.Table:
    """Ledger rows as a table of scalars (for CSV): each per-field metric as its mean over the fields
    (``<metric>_mean``), ``field_fitness`` left to ``fitness`` and ``fitness_sd``, ``artifacts`` joined by ``;``."""
    columns: dict[str, Any] = {}
    for name in rows.column_names:
        if name in METRIC_COLUMNS:
            columns[f"{name}_mean"] = pa.array([float(np.mean(values)) for values in rows.column(name).to_pylist()],
                                               type=pa.float64())
        elif name == "artifacts":
            columns[name] = pa.array([";".join(paths) for paths in rows.column(name).to_pylist()], type=pa.string())
        elif name != "field_fitness":
            columns[name] = rows.column(name)
    return pa.table(columns)


def best(ledger: pa.Table) -> dict[str, Any] | None:
    """The best row of ``ledger`` (`top_candidates` with n=1) as ``{column: value}``; None when no row is finite."""
    rows = top_candidates(ledger, 1).to_pylist()
    return rows[0] if rows else None


def generation_summary(ledger: pa.Table) -> pa.Table:
    """One row per generation: ``generation``, ``n_candidates``, ``n_finite`` (int32), ``best_fitness``,
    ``median_fitness`` (over its finite rows), ``best_fitness_so_far`` (over all generations up to it;
    all float64, NaN where there is no finite row) and ``best_candidate`` (int32, null where none)."""
    generation = _numpy(ledger, "generation")
    finite = _numpy(ledger, "finite")
    fitness = np.where(finite, _numpy(ledger, "fitness"), np.nan)
    candidate = _numpy(ledger, "candidate")
    generations = np.unique(generation)
    n_candidates, n_finite, best_fitness, median_fitness, best_candidate = [], [], [], [], []
    for value in generations:
        rows = np.flatnonzero(generation == value)
        scores = fitness[rows][finite[rows]]
        n_candidates.append(rows.size)
        n_finite.append(scores.size)
        ranked = rank_candidates(fitness[rows], generation[rows], candidate[rows])
        best_fitness.append(fitness[rows][ranked[0]] if ranked.size else np.nan)
        median_fitness.append(np.median(scores) if scores.size else np.nan)
        best_candidate.append(int(candidate[rows][ranked[0]]) if ranked.size else None)
    best_array = np.array(best_fitness, dtype=np.float64)
    so_far = np.fmax.accumulate(best_array) if best_array.size else best_array
    return pa.table({
        "generation": pa.array(generations, type=pa.int32()),
        "n_candidates": pa.array(n_candidates, type=pa.int32()),
        "n_finite": pa.array(n_finite, type=pa.int32()),
        "best_fitness": pa.array(best_array, type=pa.float64()),
        "median_fitness": pa.array(median_fitness, type=pa.float64()),
        "best_fitness_so_far": pa.array(so_far, type=pa.float64()),
        "best_candidate": pa.array(best_candidate, type=pa.int32()),
    })


def _check_values(table: pa.Table, names: Sequence[str], contiguous: bool) -> None:
    """The value rules of the module docstring, each broken rule a one-line SchemaError naming a row."""
    generation = _numpy(table, "generation").astype(np.int64)
    candidate = _numpy(table, "candidate").astype(np.int64)
    if table.num_rows and min(generation.min(), candidate.min()) < 0:
        row = int(np.flatnonzero((generation < 0) | (candidate < 0))[0])
        raise SchemaError(f"ledger row {row} has generation {generation[row]}, candidate {candidate[row]}",
                          "both are >= 0")
    step = np.diff(generation * (1 << 32) + candidate)
    if np.any(step <= 0):
        row = int(np.flatnonzero(step <= 0)[0]) + 1
        raise SchemaError(f"ledger row {row} (generation {generation[row]}, candidate {candidate[row]}) is a "
                          "duplicate or out of order", "rows are unique and sorted by (generation, candidate)")
    starts = np.flatnonzero(np.diff(generation, prepend=-1))
    expected_candidate = np.arange(generation.size) - np.repeat(starts, np.diff(np.append(starts, generation.size)))
    if np.any(candidate != expected_candidate):
        row = int(np.flatnonzero(candidate != expected_candidate)[0])
        raise SchemaError(f"ledger generation {generation[row]} lacks candidate {expected_candidate[row]}",
                          "a generation's candidates are numbered 0..P-1")
    if contiguous and np.any(generation[starts] != np.arange(starts.size)):
        gap = int(np.arange(starts.size)[generation[starts] != np.arange(starts.size)][0])
        raise SchemaError(f"ledger lacks generation {gap}", "generations run 0..G-1; append each one in turn")
    for name in names:
        values = _numpy(table, param_column(name))
        if not np.all(np.isfinite(values)):
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise SchemaError(f"ledger row {row} has {param_column(name)} = {values[row]}", "parameters are finite")
    bad = _numpy(table, "finite") & ~np.isfinite(_numpy(table, "fitness"))
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"ledger row {row} is marked finite but its fitness is {_numpy(table, 'fitness')[row]}",
                          "finite is true only where fitness is finite")
    _check_strings(table)


def _check_strings(table: pa.Table) -> None:
    """Every row names a run and K artifact paths (K the same in every row), each a non-empty relative path
    inside the run; every per-field list has K values."""
    run_ids = table.column("run_id").to_pylist()
    if any(not run_id for run_id in run_ids):
        row = run_ids.index("")
        raise SchemaError(f"ledger row {row} has an empty run_id", "every row names the run that holds its files")
    artifacts = table.column("artifacts").to_pylist()
    lengths = {len(paths) for paths in artifacts}
    for name in (*METRIC_COLUMNS, "field_fitness"):
        lengths |= {len(values) for values in table.column(name).to_pylist()}
    if len(lengths) > 1 or 0 in lengths:
        raise SchemaError(f"ledger rows hold {sorted(lengths)} values per field list",
                          "every row has one value and one artifact per initial field, K >= 1")
    for row, paths in enumerate(artifacts):
        for artifact in paths:
            path = PurePosixPath(artifact)
            if not artifact or path.is_absolute() or ".." in path.parts or "\\" in artifact:
                raise SchemaError(f"ledger row {row} has artifact {artifact!r}",
                                  "an artifact is a non-empty relative path inside its run, with / separators")


def _column(values: Sequence[Any] | np.ndarray, name: str, count: int, dtype: type) -> np.ndarray:
    """``values`` as a 1-D array of ``dtype`` and length ``count``, else a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.shape != (count,):
        raise ValueError(f"{name} has shape {array.shape}; expected ({count},), one value per candidate")
    if dtype is np.bool_ and array.dtype != np.bool_:
        raise ValueError(f"{name} has dtype {array.dtype}; expected bool")
    return array.astype(dtype)


def _canonical(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """A validated ``table`` with exactly `ledger_schema` (nullability, metadata), in one chunk per column."""
    return pa.Table.from_arrays(table.combine_chunks().columns, schema=ledger_schema(names))


def _numpy(table: pa.Table, name: str) -> np.ndarray:
    """Column ``name`` as a NumPy array (no nulls: the schema forbids them)."""
    return table.column(name).to_numpy()


def _first_line(err: BaseException) -> str:
    """The first line of an error's text, for one-line messages."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
