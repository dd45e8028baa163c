"""Lineage and code: every run records what its upstream runs held when it read them, and the code that made it."""

from __future__ import annotations

import json
import shutil

import yaml
from starlette.testclient import TestClient

from runlab.cli import main
from runlab.monitor import create_app

from tests.support.monitor import html_tables
from .test_identity import _tagged


def _run_dirs(study) -> dict:
    return {path.name.split("_")[1]: path for path in study.runs_root.glob("RUN_*")}


def test_a_recomputed_deterministic_upstream_keeps_the_edges_of_its_downstream(make_study, capsys):
    study = make_study({"S01": _tagged(tag="S01"), "S02": _tagged(["S01"], tag="S02")},
                       {"s01": 1, "s02": 10, "witness_dir": None})
    assert main(study.args("submit")) == 0
    runs = _run_dirs(study)
    record = json.loads((runs["S02"] / "run_record.json").read_text())
    assert list(record["upstream_digests"]) == [runs["S01"].name]
    shutil.rmtree(runs["S01"])
    assert main(["verify", runs["S02"].name, "--runs_root", str(study.runs_root)]) == 2
    assert f"upstream {runs['S01'].name} (S01) is missing" in capsys.readouterr().err
    assert main(study.args("submit")) == 0  # S01 again: the same bytes, so the edge holds
    assert main(["verify", "--all", "--runs_root", str(study.runs_root)]) == 0


def test_a_recomputed_nondeterministic_upstream_breaks_the_edge_and_submit_says_so(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:noisy", "reads": ["test.s01"]},
                        "S02": _tagged(["S01"], tag="S02")}, {"s01": 1, "s02": 10, "witness_dir": None})
    assert main(study.args("submit")) == 0
    runs = _run_dirs(study)
    shutil.rmtree(runs["S01"])
    capsys.readouterr()
    assert main(study.args("submit")) == 2  # S01 recomputed with other bytes: S02 no longer follows from it
    err = capsys.readouterr().err
    assert f"complete run {runs['S02'].name} does not verify: upstream {runs['S01'].name} (S01) changed since" in err
    assert main(["verify", "--all", "--runs_root", str(study.runs_root)]) == 2
    assert f"{runs['S02'].name}: does not verify: upstream" in capsys.readouterr().out


def test_a_changed_stage_source_is_said_by_submit_status_and_show(make_study, capsys, tmp_path):
    package = tmp_path / "code" / "lineage_probe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = package / "stage.py"
    source.write_text("def write(run):\n    run.write_results('values', {'value': [1]})\n")
    study = make_study({"S01": {"entry": "lineage_probe.stage:write", "reads": ["test"]}}, {"x": 1})
    manifest = yaml.safe_load(study.manifest.read_text())
    manifest["python_path"].append(str(tmp_path / "code"))
    study.manifest.write_text(yaml.safe_dump(manifest))
    assert main(study.args("submit")) == 0
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    record = json.loads((run_dir / "run_record.json").read_text())
    assert sorted(record["code"]["packages"]) == ["lineage_probe", "runlab"]
    assert all(len(fingerprint) == 64 for fingerprint in record["code"]["packages"].values())
    capsys.readouterr()

    source.write_text("def write(run):\n    run.write_results('values', {'value': [2]})  # changed\n")
    assert main(study.args("submit")) == 0
    out = capsys.readouterr().out
    assert (f"code changed since {run_dir.name} (lineage_probe); bump the version of stage S01 in its manifest "
            "to recompute") in out and "already complete; skipped" in out
    assert main(["status", "--runs_root", str(study.runs_root)]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("code changed")
    assert main(["show", run_dir.name, "--runs_root", str(study.runs_root)]) == 0
    assert "CHANGED since: lineage_probe" in capsys.readouterr().out
    client = TestClient(create_app(study.runs_root), base_url="http://127.0.0.1")
    row = html_tables(client.get("/").text)["runs"][1]
    assert row[3] == "complete code changed"
    assert "code changed since this run: lineage_probe; bump the stage's version" in client.get(f"/runs/{run_dir.name}").text

    manifest["stages"]["S01"]["version"] = 2
    study.manifest.write_text(yaml.safe_dump(manifest))
    assert main(study.args("submit")) == 0
    assert " ran " in capsys.readouterr().out
    assert len(list(study.runs_root.glob("RUN_S01_*"))) == 2
