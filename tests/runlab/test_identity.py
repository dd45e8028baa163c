"""Run ids as a Merkle DAG: a stage's id changes exactly when what it reads, its version or its upstream changes."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from runlab.cli import main
from runlab.config import resolved_from_bytes
from runlab.errors import ConfigError
from runlab.identity import DeclaredConfig, StageIdentity, declared_subtree, normalize_reads
from runlab.manifest import load_manifest
from runlab.plan import plan_config


def _tagged(needs: list[str] = (), reads: list[str] | None = None, version: int | str = 1, tag: str = "") -> dict:
    stage = {"entry": "tests.support.stages:tagged", "version": version,
             "reads": reads if reads is not None else [f"test.{tag.lower()}", "test.witness_dir"]}
    if needs:
        stage["needs"] = list(needs)
    return stage


def _graph(**versions: int) -> dict:
    """S01 -> S02 -> S03, and S04 beside S02 (after S01); each reads test.<its tag>."""
    return {"S01": _tagged(tag="S01", version=versions.get("S01", 1)),
            "S02": _tagged(["S01"], tag="S02", version=versions.get("S02", 1)),
            "S03": _tagged(["S02"], tag="S03", version=versions.get("S03", 1)),
            "S04": _tagged(["S01"], tag="S04", version=versions.get("S04", 1))}


VALUES = {"s01": 1, "s02": 10, "s03": 100, "s04": 1000}


def _submit(capsys, study, *extra: str) -> dict[str, str]:
    """Submit ``study`` and return each stage's action (ran / complete), checking the exit code is 0."""
    code = main(study.args("submit", *extra))
    out = capsys.readouterr().out
    assert code == 0, out
    return {line.split()[0]: line.split()[2] for line in out.splitlines() if line.startswith("S0")}


def _plan_ids(study) -> dict[str, str]:
    manifest = load_manifest(study.manifest)
    config = resolved_from_bytes(yaml.safe_dump(yaml.safe_load(study.config.read_text()), sort_keys=False)
                                 .encode(), "config")
    return plan_config(manifest, config).run_ids


def test_the_identity_is_pinned_and_its_bytes_are_config_resolved(make_study, capsys):
    study = make_study({"S01": _tagged(tag="S01")}, {**VALUES, "witness_dir": None},
                       determinism={"seed": 5})
    _submit(capsys, study)
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    identity = (run_dir / "config_resolved.yaml").read_bytes()
    assert identity == (b"study: testing\nversion: '1'\nreads:\n- determinism\n- test.s01\n- test.witness_dir\n"
                        b"array: null\nupstream: {}\nconfig:\n  determinism:\n    seed: 5\n  test:\n    s01: 1\n"
                        b"    witness_dir: null\n")
    assert run_dir.name == "RUN_S01_" + hashlib.sha256(identity + b"S01").hexdigest()[:12] == "RUN_S01_fbccf655d17a"
    record = json.loads((run_dir / "run_record.json").read_text())
    assert record["reads"] == ["determinism", "test.s01", "test.witness_dir"] and record["stage_version"] == "1"
    assert yaml.safe_load((run_dir / "config_study.yaml").read_text())["test"]["s04"] == 1000  # kept for people


def test_an_id_changes_exactly_with_what_the_stage_reads(make_study):
    study = make_study(_graph(), VALUES)
    before = _plan_ids(study)
    study.write_config({**VALUES, "s02": 11})
    after = _plan_ids(study)
    assert [tag for tag in before if before[tag] != after[tag]] == ["S02", "S03"]  # S02 and its downstream
    study.write_config({**VALUES, "unread": "anything"})
    assert _plan_ids(study) == before  # a key no stage reads moves no id
    reordered = dict(reversed(list(VALUES.items())))
    study.write_config(reordered)
    assert _plan_ids(study) == before  # key order in the file does not matter


def test_changing_a_version_reruns_that_stage_and_its_downstream_only(make_study, capsys, tmp_path):
    witness = tmp_path / "witness"
    witness.mkdir()
    study = make_study(_graph(), {**VALUES, "witness_dir": str(witness)})
    assert set(_submit(capsys, study).values()) == {"ran"}
    manifest = yaml.safe_load(study.manifest.read_text())
    manifest["stages"]["S02"]["version"] = 2
    study.manifest.write_text(yaml.safe_dump(manifest, sort_keys=False))
    assert load_manifest(study.manifest).stages["S02"].version == "2"
    actions = _submit(capsys, study)
    assert actions == {"S01": "complete", "S02": "ran", "S04": "complete", "S03": "ran"}
    assert sorted(path.name.split("_")[0] for path in witness.iterdir()) == ["S01", "S02", "S02", "S03", "S03", "S04"]


def test_two_studies_with_equal_config_bytes_never_share_a_run(make_study, capsys):
    first = make_study({"S01": _tagged(tag="S01")}, VALUES, name="first")
    second = make_study({"S01": _tagged(tag="S01")}, VALUES, name="second")
    second.manifest.write_text(second.manifest.read_text().replace("study: testing", "study: another"))
    second.runs_root = first.runs_root
    assert _submit(capsys, first) == {"S01": "ran"}
    assert _submit(capsys, second) == {"S01": "ran"}
    assert len(list(first.runs_root.glob("RUN_S01_*"))) == 2


def test_a_stage_reading_an_undeclared_key_fails_with_one_line(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:reads_undeclared", "reads": ["test.a"]}},
                       {"a": 1, "b": 2})
    code = main(study.args("submit"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("runlab: error: stage S01 reads test.b, which it does not declare; add test.b (or a prefix "
                          f"of it) to the stage's reads: in {study.manifest}")


def test_declared_config_is_the_declared_subtree_and_refuses_the_rest():
    study = {"a": {"x": 1, "y": {"z": 2}}, "b": [1, 2], "determinism": {"seed": 3}}
    reads = normalize_reads(("a.y", "b", "a.y.z"))
    assert reads == ("a.y", "b", "determinism")  # sorted, determinism added, a.y.z covered by a.y
    subtree = declared_subtree(study, reads)
    assert subtree == {"a": {"y": {"z": 2}}, "b": [1, 2], "determinism": {"seed": 3}}
    view = DeclaredConfig(subtree, study, stage="S01", manifest="jobs/x.yaml")
    assert view["a"]["y"]["z"] == 2 and view["b"] == [1, 2] and dict(view["a"]) == {"y": view["a"]["y"]}
    assert view["a"].get("missing", "default") == "default"  # absent everywhere: an ordinary missing key
    with pytest.raises(ConfigError, match=r"stage S01 reads a\.x, which it does not declare"):
        view["a"].get("x")
    with pytest.raises(ConfigError, match="reads a.x"):
        "x" in view["a"]  # noqa: B015 - presence is a read too
    assert normalize_reads(None) == normalize_reads(("*", "a")) == ("*",)
    assert declared_subtree(study, ("*",)) == study
    whole = StageIdentity.reading_everything("s", "S01", study)
    assert whole.reads == ("*",) and whole.run_id.startswith("RUN_S01_")


@pytest.mark.parametrize("bad", [{"version": "1 2"}, {"reads": []}, {"reads": ["a..b"]}], ids=str)
def test_a_manifest_version_or_reads_that_is_malformed_is_refused(make_study, capsys, bad):
    study = make_study({"S01": {"entry": "tests.support.stages:echo", **bad}}, {"values": [1]})
    assert main(study.args("submit")) == 2
    assert "manifest" in capsys.readouterr().err
