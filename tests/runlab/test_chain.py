"""Manifest chains: a stage repeated as many times as the config says, each link after the previous one."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from runlab.manifest import load_manifest

from tests.support.cli import run_cli

STAGES = {
    "S01": {"entry": "tests.support.stages:echo"},
    "GEN": {"entry": "tests.support.stages:chain_link", "needs": ["S01"], "chain": "test.links"},
    "END": {"entry": "tests.support.stages:echo", "needs": ["GEN"]},
}


def _value(study, tag: str) -> int:
    run = next(study.runs_root.glob(f"RUN_{tag}_*"))
    return pq.read_table(run / "results" / "values.parquet").column("value").to_pylist()[0]


def test_a_chain_expands_from_the_config_and_runs_link_after_link(make_study):
    study = make_study(STAGES, {"values": [10], "links": 4})
    first = run_cli(*study.args("submit"))
    assert first.returncode == 0, first.stderr
    assert [_value(study, tag) for tag in ("GEN000", "GEN001", "GEN002", "GEN003")] == [10, 11, 13, 16]
    assert _value(study, "END") == 17  # END needs the last link
    records = {path.name.split("_")[1]: json.loads((path / "run_record.json").read_text())
               for path in study.runs_root.glob("RUN_*")}
    assert set(records["GEN002"]["upstream_run_ids"]) == {"S01", "GEN001"}
    assert set(records["END"]["upstream_run_ids"]) == {"GEN003"}
    again = run_cli(*study.args("submit"))
    assert again.returncode == 0 and again.stdout.count("already complete") == 6
    status = run_cli(*study.args("status"))
    *rows, summary = status.stdout.splitlines()[1:]
    assert [line.split()[1] for line in rows] == ["S01", "GEN000", "GEN001", "GEN002", "GEN003", "END"]
    assert summary == "6 runs: 6 complete"


def test_one_link_can_be_submitted_with_what_it_needs(make_study):
    study = make_study(STAGES, {"values": [1], "links": 5})
    result = run_cli(*study.args("submit", "--stage", "GEN001"))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name.split("_")[1] for path in study.runs_root.glob("RUN_*")) == ["GEN000", "GEN001", "S01"]


@pytest.mark.parametrize(("links", "message"), [(0, "sets to 0"), ("three", "sets to 'three'"), (None, "sets to None")])
def test_a_bad_chain_length_is_one_line(make_study, links, message):
    section = {"values": [1]} if links is None else {"values": [1], "links": links}
    study = make_study(STAGES, section)
    result = run_cli(*study.args("submit"))
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_chain_and_array_exclude_each_other(make_study):
    study = make_study({"GEN": {"entry": "tests.support.stages:chain_link", "chain": "test.links", "array": 2}},
                       {"links": 2})
    result = run_cli(*study.args("submit"))
    assert result.returncode == 2 and "both chain and array" in result.stderr


def test_previous_link_outside_a_chain_is_refused(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:chain_link"}}, {"values": [1]})
    result = run_cli(*study.args("submit"))
    assert result.returncode == 2 and "is not a link of a chain" in result.stderr


def test_expansion_keeps_the_manifest_order(make_study):
    study = make_study(STAGES, {"values": [1], "links": 2})
    manifest = load_manifest(study.manifest).for_config({"test": {"links": 2}})
    assert manifest.order() == ["S01", "GEN000", "GEN001", "END"]
    assert manifest.stages["GEN001"].chain_previous == "GEN000" and manifest.stages["GEN000"].chain_index == 0


ARRAY_FROM_CONFIG = {"S02": {"entry": "tests.support.stages:shard", "array": "test.gains",
                             "fan_in": "tests.support.stages:gather"}}


@pytest.mark.parametrize("gains", [[0.5, 1.0, 2.0], 3])
def test_an_array_can_take_its_size_from_the_config(make_study, gains):
    study = make_study(ARRAY_FROM_CONFIG, {"gains": gains})
    assert load_manifest(study.manifest).for_config({"test": {"gains": gains}}).stages["S02"].array == 3
    result = run_cli(*study.args("submit"))
    assert result.returncode == 0, result.stderr
    run = next(study.runs_root.glob("RUN_S02_*"))
    assert pq.read_table(run / "results" / "gathered.parquet").column("task").to_pylist() == [0, 1, 2]


@pytest.mark.parametrize(("gains", "message"), [([], "sets to []"), (0, "sets to 0"), (None, "sets to None")])
def test_a_bad_array_size_from_the_config_is_one_line(make_study, gains, message):
    study = make_study(ARRAY_FROM_CONFIG, {} if gains is None else {"gains": gains})
    result = run_cli(*study.args("submit"))
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
