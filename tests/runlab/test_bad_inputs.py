"""A corpus of bad inputs: each gives one line on stderr, the right exit code, and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from runlab.cli import main

from tests.support.stages import CHAIN

ECHO = {"S01": {"entry": "tests.support.stages:echo"}}


def _files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")) if root.exists() else []


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.err


def _edit_manifest(study, change) -> None:
    data = yaml.safe_load(study.manifest.read_text())
    change(data)
    study.manifest.write_text(yaml.safe_dump(data, sort_keys=False))


CONFIG_CASES = {
    "malformed yaml": ("test: {values: [1, 2\n", "invalid YAML"),
    "tab indentation": ("test:\n\tvalues: [1]\n", "invalid YAML"),
    "duplicate key": ("test: {values: [1]}\ntest: {values: [2]}\n", "duplicate key 'test'"),
    "python tag": ("test: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "could not determine a constructor"),
    "yaml alias": ("a: &x [1]\ntest: {values: *x}\n", "aliases"),
    "unresolved canon": ("test: {values: CANON.NOT.DEFINED}\n", "unknown CANON reference CANON.NOT.DEFINED"),
    "canon below a scalar": ("test: {values: CANON.PATH.RUNS_DIR.X}\n", "unknown CANON reference"),
    "list at top level": ("- test\n", "not a mapping"),
    "not utf-8": (b"test: {values: [\xff]}\n", "cannot read config"),
    "unknown determinism key": ("test: {values: [1]}\ndeterminism: {seed: 1, sede: 2}\n", "sede"),
    "negative seed": ("test: {values: [1]}\ndeterminism: {seed: -1}\n", "seed"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config(make_study, capsys, case):
    text, message = CONFIG_CASES[case]
    study = make_study(ECHO, {"values": [1]})
    if isinstance(text, bytes):
        study.config.write_bytes(text)
    else:
        study.config.write_text(text)
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("runlab: error: ") and message in err
    assert _files(study.runs_root) == []


MANIFEST_CASES = {
    "unknown top-level key": (lambda m: m.update(stagez={}), "Additional properties"),
    "unknown resource": (lambda m: m["stages"]["S01"].update(resources={"cpu": 2}), "Additional properties"),
    "negative memory": (lambda m: m["stages"]["S01"].update(resources={"mem_gb": -1}), "mem_gb"),
    "unknown need": (lambda m: m["stages"]["S01"].update(needs=["S09"]), "needs unknown stage(s) S09"),
    "cycle": (lambda m: m["stages"].update(S02={"entry": "tests.support.stages:echo", "needs": ["S01"]})
              or m["stages"]["S01"].update(needs=["S02"]), "cycle"),
    "traversal in stage tag": (lambda m: m["stages"].update({"../S02": {"entry": "tests.support.stages:echo"}}),
                               "does not match"),
    "entry not importable": (lambda m: m["stages"]["S01"].update(entry="tests.support.stages:nope"),
                             "cannot import stage entry tests.support.stages:nope"),
    "verifier not importable": (lambda m: m["stages"]["S01"].update(verify="tests.support.stages:nope"),
                                "cannot import verifier tests.support.stages:nope"),
    "verifier not a callable reference": (lambda m: m["stages"]["S01"].update(verify="tests/support/stages.py"),
                                          "stages.S01.verify"),
    "fan-in without array": (lambda m: m["stages"]["S01"].update(fan_in="tests.support.stages:gather"), "no array"),
    "canon registry missing": (lambda m: m.update(canon="missing.md"), "CANON registry not readable"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_bad_manifest(make_study, capsys, case):
    change, message = MANIFEST_CASES[case]
    study = make_study(ECHO, {"values": [1]})
    _edit_manifest(study, change)
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2, err
    assert err.count("\n") == 1 and message in err, err
    assert _files(study.runs_root) == []


def test_config_schema_rejects_unknown_keys(make_study, capsys):
    study = make_study(ECHO, {"values": [1], "valuez": [2]})
    (study.folder / "schema.yaml").write_text(yaml.safe_dump({
        "type": "object", "additionalProperties": False,
        "properties": {"test": {"type": "object", "additionalProperties": False,
                                "properties": {"values": {"type": "array"}}}}}))
    _edit_manifest(study, lambda m: m.update(config_schema="schema.yaml"))
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2 and err.count("\n") == 1 and "'valuez' was unexpected" in err
    assert _files(study.runs_root) == []


@pytest.mark.parametrize(("profile", "message"), [
    ("executor: slurn\n", "executor"),
    ("executor: slurm\nslurm: {partiton: debug}\n", "Additional properties"),
])
def test_bad_profile(make_study, capsys, profile, message):
    study = make_study(ECHO, {"values": [1]})
    path = study.folder / "profile.yaml"
    path.write_text("schema_version: 1\n" + profile)
    code, err = _run(capsys, *study.args("submit", profile=str(path)))
    assert code == 2 and err.count("\n") == 1 and message in err
    assert _files(study.runs_root) == []


@pytest.mark.parametrize("args", [
    ["show", "../../etc/passwd"],
    ["verify", "RUN_S01_0123456789ab/../../x"],
    ["show", "RUN_S01_0123456789ab", "--json", "--bogus"],
    ["submit"],
])
def test_bad_command_lines(tmp_path, capsys, args):
    code, err = _run(capsys, *args, "--runs_root", str(tmp_path / "runs")) if args[0] != "submit" else _run(
        capsys, *args)
    assert code == 2 and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


def test_runs_root_that_is_a_file(make_study, capsys):
    study = make_study(ECHO, {"values": [1]})
    study.runs_root.write_text("not a folder")
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2 and "is not a directory" in err and err.count("\n") == 1


def test_artifact_path_traversal_writes_nothing_outside(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:escape"}}, {})
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2 and "invalid artifact path 'results/../../escaped.txt'" in err and err.count("\n") == 1
    assert not list(study.folder.rglob("escaped.txt"))


def test_symlink_in_run_dir_is_refused(make_study, capsys, tmp_path):
    study = make_study(CHAIN, {"values": [1]})
    assert _run(capsys, *study.args("submit"))[0] == 0
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.symlink(outside, run_dir / "logs" / "link.txt")
    code, err = _run(capsys, "verify", run_dir.name, "--runs_root", str(study.runs_root))
    assert code == 2 and "logs/link.txt: symbolic link" in err
    before = _files(study.runs_root)
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2 and f"complete run {run_dir.name} does not verify" in err and err.count("\n") == 1
    assert _files(study.runs_root) == before


def test_tampered_artifact_fails_verify(make_study, capsys):
    study = make_study(CHAIN, {"values": [1]})
    assert _run(capsys, *study.args("submit"))[0] == 0
    (run_dir,) = study.runs_root.glob("RUN_S02_*")
    target = run_dir / "results" / "values.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    code, err = _run(capsys, "verify", run_dir.name, "--runs_root", str(study.runs_root))
    assert code == 2 and "results/values.parquet: sha256 differs from the record" in err
    assert err.count("\n") == 1
