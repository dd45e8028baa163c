"""The hunt ledger: building and appending generations, bytes, schema checks on read, and queries."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from irer.ledger import (METRIC_COLUMNS, append_generations, best, empty_ledger, flat_rows, generation_rows,
                         generation_summary, ledger_bytes, ledger_schema, read_ledger, top_candidates)
from runlab.errors import SchemaError
from runlab.formats import parquet_bytes

NAMES = ("kappa", "sigma_k", "alpha")
NAN = math.nan


def _rows(generation: int, fitness: list[float], sse: list[float] | None = None, **kwargs) -> pa.Table:
    """One generation of len(fitness) candidates with distinct parameters and the given fitness and SSE."""
    count = len(fitness)
    params = np.array([[0.01 * (generation + 1), 0.1 * (i + 1), 0.5] for i in range(count)])
    sse = [1.0] * count if sse is None else sse
    metrics = {"log_prime_sse": sse, "sdg_h_norm_l2": [0.5] * count, "sse_null_phase_scramble": [3.0] * count,
               "sse_null_target_shuffle": [4.0] * count}
    return generation_rows(generation, params, param_names=NAMES, metrics=metrics, fitness=fitness,
                           run_id=f"RUN_IRER_GEN{generation}", artifacts=[f"data/c{i}.h5" for i in range(count)],
                           **kwargs)


def _hand_made() -> pa.Table:
    """Generation 0: fitness 2, NaN, 5. Generation 1: 5 (ties generation 0's best), 1, 3, and 8 with a NaN
    SSE (so not finite). Generation 2: nothing finite."""
    return append_generations(
        empty_ledger(NAMES),
        _rows(0, [2.0, NAN, 5.0]),
        _rows(1, [5.0, 1.0, 3.0, 8.0], sse=[1.0, 1.0, 1.0, NAN]),
        _rows(2, [NAN, NAN]),
    )


def test_rows_carry_the_schema_and_the_default_finite_flag():
    ledger = _hand_made()
    assert ledger.schema.equals(ledger_schema(NAMES), check_metadata=True)
    assert ledger.column_names == ["generation", "candidate", "param_kappa", "param_sigma_k", "param_alpha",
                                   *METRIC_COLUMNS, "field_fitness", "fitness", "fitness_sd", "finite", "cached",
                                   "run_id", "artifacts"]
    assert ledger.column("finite").to_pylist() == [True, False, True, True, True, True, False, False, False]
    assert ledger.column("candidate").to_pylist() == [0, 1, 2, 0, 1, 2, 3, 0, 1]
    assert ledger.column("run_id").to_pylist()[3] == "RUN_IRER_GEN1"


def test_summaries_of_a_hand_made_ledger():
    summary = generation_summary(_hand_made()).to_pydict()
    assert summary["generation"] == [0, 1, 2]
    assert summary["n_candidates"] == [3, 4, 2]
    assert summary["n_finite"] == [2, 3, 0]
    assert summary["best_fitness"][:2] == [5.0, 5.0] and math.isnan(summary["best_fitness"][2])
    assert summary["median_fitness"][:2] == [3.5, 3.0] and math.isnan(summary["median_fitness"][2])
    assert summary["best_fitness_so_far"] == [5.0, 5.0, 5.0]
    assert summary["best_candidate"] == [2, 0, None]
    assert generation_summary(empty_ledger(NAMES)).num_rows == 0


def test_best_and_top_candidates_rank_by_fitness_then_earliest():
    ledger = _hand_made()
    top = top_candidates(ledger, 10)
    assert list(zip(top.column("generation").to_pylist(), top.column("candidate").to_pylist())) == [
        (0, 2), (1, 0), (1, 2), (0, 0), (1, 1)]  # the non-finite fitness 8 never ranks
    assert top_candidates(ledger, 2).num_rows == 2 and top_candidates(ledger, 0).num_rows == 0
    row = best(ledger)
    assert (row["generation"], row["candidate"], row["fitness"], row["artifacts"]) == (0, 2, 5.0, ["data/c2.h5"])
    assert best(append_generations(empty_ledger(NAMES), _rows(0, [NAN]))) is None


def test_the_same_rows_give_the_same_bytes_however_they_were_built():
    data = ledger_bytes(_hand_made())
    assert ledger_bytes(_hand_made()) == data
    assert ledger_bytes(read_ledger(data, NAMES)) == data
    one_by_one = empty_ledger(NAMES)
    for generation in (_rows(0, [2.0, NAN, 5.0]), _rows(1, [5.0, 1.0, 3.0, 8.0], sse=[1.0, 1.0, 1.0, NAN]),
                       _rows(2, [NAN, NAN])):
        one_by_one = append_generations(one_by_one, generation)
    assert ledger_bytes(one_by_one) == data
    rows = _hand_made().to_pylist()
    loose = pa.schema([field.with_nullable(True) for field in ledger_schema(NAMES)], ledger_schema(NAMES).metadata)
    rebuilt = pa.concat_tables([pa.Table.from_pylist(rows[:4], loose), pa.Table.from_pylist(rows[4:], loose)])
    assert rebuilt.column("fitness").num_chunks == 2 and ledger_bytes(rebuilt) == data
    assert ledger_bytes(read_ledger(ledger_bytes(empty_ledger(NAMES)))) == ledger_bytes(empty_ledger(NAMES))


def test_appending_never_changes_the_ledger_it_was_given():
    ledger = append_generations(empty_ledger(NAMES), _rows(0, [1.0, 2.0]))
    before = ledger_bytes(ledger)
    longer = append_generations(ledger, _rows(1, [3.0]))
    assert ledger_bytes(ledger) == before and longer.num_rows == 3
    with pytest.raises(SchemaError, match=r"generation\(s\) \[1\] are already in the ledger"):
        append_generations(longer, _rows(1, [4.0]))
    with pytest.raises(SchemaError, match="ledger lacks generation 2"):
        append_generations(longer, _rows(3, [4.0]))


def test_given_finite_flags_may_only_mark_finite_fitness():
    rows = _rows(0, [1.0, 2.0], sse=[NAN, NAN], finite=[True, False])
    assert rows.column("finite").to_pylist() == [True, False]  # the evaluator's word, not the default
    with pytest.raises(SchemaError, match=r"ledger row 1 is marked finite but its fitness is nan"):
        _rows(0, [1.0, NAN], finite=[True, True])
    with pytest.raises(ValueError, match="finite has dtype int64; expected bool"):
        _rows(0, [1.0], finite=[1])


def test_building_rows_from_mismatched_inputs_is_refused():
    params = np.full((2, 3), 0.5)
    metrics = {name: [1.0, 1.0] for name in METRIC_COLUMNS}
    with pytest.raises(ValueError, match=r"params has shape \(2, 3\); expected \(P, 2\)"):
        generation_rows(0, params, param_names=NAMES[:2], metrics=metrics, fitness=[1, 1], run_id="R",
                        artifacts=["a", "b"])
    with pytest.raises(ValueError, match="metrics has keys"):
        generation_rows(0, params, param_names=NAMES, metrics={"sse": [1, 1]}, fitness=[1, 1], run_id="R",
                        artifacts=["a", "b"])
    with pytest.raises(ValueError, match=r"fitness has shape \(3,\); expected \(2, K\)"):
        generation_rows(0, params, param_names=NAMES, metrics=metrics, fitness=[1, 1, 1], run_id="R",
                        artifacts=["a", "b"])
    with pytest.raises(ValueError, match="artifacts has 1 entries"):
        generation_rows(0, params, param_names=NAMES, metrics=metrics, fitness=[1, 1], run_id="R", artifacts=["a"])


def _with_column(table: pa.Table, name: str, values: list | pa.ChunkedArray) -> pa.Table:
    """``table`` with column ``name`` replaced; a list keeps the column's type."""
    if isinstance(values, list):
        values = pa.array(values, type=table.schema.field(name).type)
    return table.set_column(table.schema.get_field_index(name), name, values)


def _tampered(kind: str) -> pa.Table:
    """The hand-made ledger broken in one way (tables a careless writer or a bad edit could produce)."""
    good = _hand_made()
    generation = good.column("generation").to_pylist()
    candidate = good.column("candidate").to_pylist()
    if kind == "no version":
        return good.replace_schema_metadata(None)
    if kind == "version 1":
        return good.replace_schema_metadata({b"irer_ledger_schema_version": b"1"})
    if kind == "missing column":
        return good.drop_columns(["sdg_h_norm_l2"])
    if kind == "float32 fitness":
        return _with_column(good, "fitness", good.column("fitness").cast(pa.float32()))
    if kind == "null run id":
        return _with_column(good, "run_id", [None] + good.column("run_id").to_pylist()[1:])
    if kind == "duplicate row":
        return _with_column(good, "candidate", candidate[:2] + [1] + candidate[3:])
    if kind == "missing candidate":
        return _with_column(good, "candidate", candidate[:5] + [3, 4] + candidate[7:])
    if kind == "missing generation":
        return _with_column(good, "generation", [g if g < 2 else 3 for g in generation])
    if kind == "negative generation":
        return _with_column(good, "generation", [g - 1 for g in generation])
    if kind == "nan parameter":
        return _with_column(good, "param_sigma_k", [0.1, 0.2, NAN, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2])
    if kind == "finite nan fitness":
        return _with_column(good, "finite", [True] * good.num_rows)
    if kind == "empty run id":
        return _with_column(good, "run_id", good.column("run_id").to_pylist()[:4] + [""] * 5)
    if kind == "two fields in one row":
        return _with_column(good, "artifacts", [["a.h5", "b.h5"]] + good.column("artifacts").to_pylist()[1:])
    kinds = {"absolute artifact": "/scratch/c0.h5", "escaping artifact": "data/../../c0.h5", "empty artifact": ""}
    return _with_column(good, "artifacts", [[kinds[kind]]] + good.column("artifacts").to_pylist()[1:])


@pytest.mark.parametrize("kind, message", [
    ("no version", "ledger has no schema_version; expected 2"),
    ("version 1", "ledger has schema_version 1; expected 2"),
    ("missing column", "ledger columns are ['generation', 'candidate', 'param_kappa'"),
    ("float32 fitness", "ledger column 'fitness' has type float; expected double"),
    ("null run id", "ledger column 'run_id' has 1 null value(s); a missing number is NaN"),
    ("duplicate row", "ledger row 2 (generation 0, candidate 1) is a duplicate or out of order"),
    ("missing candidate", "ledger generation 1 lacks candidate 2"),
    ("missing generation", "ledger lacks generation 2"),
    ("negative generation", "ledger row 0 has generation -1, candidate 0; both are >= 0"),
    ("nan parameter", "ledger row 2 has param_sigma_k = nan"),
    ("finite nan fitness", "ledger row 1 is marked finite but its fitness is nan"),
    ("empty run id", "ledger row 4 has an empty run_id"),
    ("two fields in one row", "ledger rows hold [1, 2] values per field list"),
    ("absolute artifact", "ledger row 0 has artifact '/scratch/c0.h5'"),
    ("escaping artifact", "ledger row 0 has artifact 'data/../../c0.h5'"),
    ("empty artifact", "ledger row 0 has artifact ''"),
])
def test_a_broken_ledger_is_refused_on_read_with_one_line(kind, message):
    with pytest.raises(SchemaError) as caught:
        read_ledger(parquet_bytes(_tampered(kind)))
    assert message in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2
    with pytest.raises(SchemaError):
        ledger_bytes(_tampered(kind))  # nor can it be written


def test_bytes_that_are_not_a_ledger_are_refused_with_one_line():
    for data, message in [(b"PAR1 but not parquet", "ledger is not a readable Parquet file"),
                          (parquet_bytes({"x": [1, 2]}), "ledger has no param_<name> columns")]:
        with pytest.raises(SchemaError) as caught:
            read_ledger(data)
        assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(SchemaError, match="ledger columns are") as caught:
        read_ledger(ledger_bytes(_hand_made()), ("kappa", "alpha"))  # not the prior it was written for
    assert "\n" not in str(caught.value)


def test_fitness_is_the_mean_over_the_fields_with_its_spread_and_every_field_kept():
    params = np.array([[0.01, 0.1, 0.5], [0.02, 0.2, 0.5]])
    metrics = {name: [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] for name in METRIC_COLUMNS}
    rows = generation_rows(0, params, param_names=NAMES, metrics=metrics, fitness=[[0.2, 0.4, 0.9], [0.3, NAN, 0.3]],
                           run_id="RUN_G0", artifacts=[["a0.h5", "a1.h5", "a2.h5"], ["b0.h5", "b1.h5", "b2.h5"]],
                           cached=[False, True])
    assert rows.column("fitness").to_pylist()[0] == pytest.approx(0.5)
    assert rows.column("fitness_sd").to_pylist()[0] == pytest.approx(float(np.std([0.2, 0.4, 0.9], ddof=1)))
    assert math.isnan(rows.column("fitness").to_pylist()[1])  # a field without fitness: the candidate has none
    assert rows.column("finite").to_pylist() == [True, False] and rows.column("cached").to_pylist() == [False, True]
    assert rows.column("log_prime_sse").to_pylist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    flat = flat_rows(rows)
    assert "field_fitness" not in flat.column_names and flat.column("log_prime_sse_mean").to_pylist() == [2.0, 5.0]
    assert flat.column("artifacts").to_pylist() == ["a0.h5;a1.h5;a2.h5", "b0.h5;b1.h5;b2.h5"]
    with pytest.raises(ValueError, match=r"sdg_h_norm_l2 has shape \(2, 2\); expected \(2, 3\)"):
        generation_rows(0, params, param_names=NAMES, metrics={**metrics, "sdg_h_norm_l2": [[1, 1], [1, 1]]},
                        fitness=[[0.2, 0.4, 0.9], [0.3, 0.3, 0.3]], run_id="R", artifacts=[["a"] * 3, ["b"] * 3])
