"""``--set`` and ``--sweep``: configs changed from the command line, validated like a file, submitted at once,
with each distinct run executed once however many configs of the sweep share it."""

from __future__ import annotations

import json

import pytest

import runlab
from runlab.cli import main

from .test_identity import _tagged


def _graph() -> dict:
    """S00 reads test.s00 alone; S01 reads test.s01; S02 (after S01) reads test.s02."""
    return {"S00": _tagged(tag="S00"), "S01": _tagged(tag="S01"), "S02": _tagged(["S01"], tag="S02")}


def _values(study, tag: str) -> list[int]:
    import pyarrow.parquet as pq

    return sorted(pq.read_table(path / "results/values.parquet").column("value")[0].as_py()
                  for path in study.runs_root.glob(f"RUN_{tag}_*"))


def _executions(witness) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in witness.iterdir():
        counts[path.name.split("_")[0]] = counts.get(path.name.split("_")[0], 0) + 1
    return counts


def test_a_sweep_runs_each_distinct_run_once(make_study, capsys, tmp_path):
    witness = tmp_path / "witness"
    witness.mkdir()
    study = make_study(_graph(), {"s00": 5, "s01": 1, "s02": 10, "witness_dir": str(witness)})
    code = main(study.args("submit", "--sweep", "test.s01=1,2", "--sweep", "test.s02=10,20,30"))
    out = capsys.readouterr().out
    assert code == 0
    assert "6 configs" in out.splitlines()[0]
    assert _executions(witness) == {"S00": 1, "S01": 2, "S02": 6}
    assert [line.split()[0] for line in out.splitlines()[1:]].count("S00") == 1
    assert "(shared by 6 configs)" in next(line for line in out.splitlines() if line.startswith("S00"))
    assert _values(study, "S01") == [1, 2]
    assert _values(study, "S02") == [11, 12, 21, 22, 31, 32]
    again = main(study.args("submit", "--sweep", "test.s01=1,2", "--sweep", "test.s02=10,20,30"))
    assert again == 0 and capsys.readouterr().out.count("already complete; skipped") == 1 + 2 + 6
    assert _executions(witness) == {"S00": 1, "S01": 2, "S02": 6}
    status = main(["status", str(study.manifest), "--config", str(study.config), "--runs_root", str(study.runs_root),
                   "--sweep", "test.s01=1,2", "--sweep", "test.s02=10,20,30"])
    lines = capsys.readouterr().out.splitlines()
    headers = [line for line in lines if line.startswith("config ")]
    assert status == 0 and headers[0] == "config 1/6: test.s01=1, test.s02=10" and len(headers) == 6
    assert sum(line.startswith("RUN_") and " complete " in line for line in lines) == 6 * 3  # shared ones in each
    assert lines[-1] == "sweep of 6 configs, 9 runs: 9 complete"


def test_set_values_are_yaml_typed_and_checked_like_the_file(make_study, capsys, tmp_path):
    study = make_study({"S01": _tagged(tag="S01")}, {"s01": 1, "witness_dir": None})
    assert main(study.args("submit", "--set", "test.s01=41")) == 0
    assert _values(study, "S01") == [41]
    status = main(["status", str(study.manifest), "--config", str(study.config), "--runs_root", str(study.runs_root),
                   "--set", "test.s01=41"])
    assert status == 0 and " complete " in capsys.readouterr().out
    for bad, message in (("test.s01", "has no '='"), ("test..s01=1", "is not a dotted config key"),
                         ("test.s01=[1", "is not YAML")):
        assert main(study.args("submit", "--set", bad)) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_overrides_pass_through_the_study_schema(tmp_path, capsys):
    from tests.support.cli import REPO

    code = main(["submit", str(REPO / "jobs" / "margin_repair.yaml"), "--config",
                 str(REPO / "configs" / "margin_repair" / "synthetic.yaml"), "--runs_root", str(tmp_path / "runs"),
                 "--set", "margin_repair.finite_n=many", "--dry_run"])
    err = capsys.readouterr().err
    assert code == 2 and "finite_n" in err and "with margin_repair.finite_n='many'" in err
    assert not (tmp_path / "runs").exists()


def test_a_sweep_file_and_the_python_api_give_the_same_runs(make_study, capsys, tmp_path):
    study = make_study(_graph(), {"s00": 5, "s01": 1, "s02": 10, "witness_dir": None})
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text("test.s02: [10, 20]\n")
    assert main(study.args("submit", "--sweep-file", str(sweep_file))) == 0
    capsys.readouterr()
    outcomes = runlab.submit(study.manifest, config=study.config, sweep={"test.s02": [10, 20]},
                             overrides={"test.s00": 5}, runs_root=study.runs_root, say=lambda line: None)
    assert [(outcome.tag, outcome.action, outcome.configs) for outcome in outcomes] == [
        ("S00", "complete", 2), ("S01", "complete", 2), ("S02", "complete", 1), ("S02", "complete", 1)]
    assert {outcome.run_id for outcome in outcomes} == {path.name for path in study.runs_root.glob("RUN_*")}
    record = json.loads(next(study.runs_root.glob("RUN_S02_*")).joinpath("run_record.json").read_text())
    assert record["upstream_run_ids"] == {"S01": next(study.runs_root.glob("RUN_S01_*")).name}


def test_a_key_swept_twice_is_refused(make_study, capsys):
    study = make_study(_graph(), {"s00": 5, "s01": 1, "s02": 10})
    assert main(study.args("submit", "--sweep", "test.s01=1,2", "--sweep", "test.s01=3")) == 2
    assert "--sweep test.s01 is given twice" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["test.s01=", "test.s01= "])
def test_a_sweep_without_values_is_refused(make_study, capsys, text):
    study = make_study(_graph(), {"s00": 5, "s01": 1, "s02": 10})
    assert main(study.args("submit", "--sweep", text)) == 2
    assert f"--sweep {text} names no values" in capsys.readouterr().err
