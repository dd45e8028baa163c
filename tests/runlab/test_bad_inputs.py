"""A corpus of bad inputs: each gives one line on stderr, the right exit code, and writes nothing."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runlab.cli import main

from tests.support.cli import REPO, run_cli
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
    "study missing": (lambda m: m.pop("study"), "'study' is a required property; fix the manifest: add the key study"),
    "entry missing": (lambda m: m["stages"]["S01"].pop("entry"),
                      "invalid at stages.S01: 'entry' is a required property; fix the manifest: add the key "
                      "stages.S01.entry"),
    "canon registry missing": (lambda m: m.update(canon="missing.md"), "CANON registry not found"),
    "canon registry a folder": (lambda m: m.update(canon="."), "is a directory, not a regular file"),
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


def test_canon_reference_in_a_study_without_a_registry(make_study, capsys):
    study = make_study(ECHO, {"values": ["CANON.PATH.RUNS_DIR"]})
    _edit_manifest(study, lambda m: m.pop("canon"))
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2 and err.count("\n") == 1, err
    assert (f"config {study.config} refers to CANON.PATH.RUNS_DIR, but its study's manifest names no CANON registry; "
            "add canon: PATH") in err
    assert _files(study.runs_root) == []


def test_missing_default_config_names_the_fixes(make_study, capsys):
    study = make_study(ECHO, {"values": [1]})
    _edit_manifest(study, lambda m: m.pop("config"))
    code, err = _run(capsys, "submit", str(study.manifest), "--runs_root", str(study.runs_root))
    expected = study.folder.parent / "configs" / "testing.yaml"  # <project>/configs/<study>.yaml
    assert code == 2 and err.count("\n") == 1, err
    assert f"has no config: {expected} does not exist; write it, name another in the manifest (config: PATH)" in err
    assert _files(study.runs_root) == []


def test_config_schema_names_a_missing_key(make_study, capsys):
    study = make_study(ECHO, {"other": 1})
    (study.folder / "schema.yaml").write_text(yaml.safe_dump({
        "type": "object", "properties": {"test": {"type": "object", "required": ["values"]}}}))
    _edit_manifest(study, lambda m: m.update(config_schema="schema.yaml"))
    code, err = _run(capsys, *study.args("submit"))
    assert code == 2 and err.count("\n") == 1, err
    assert "invalid at test: 'values' is a required property; fix the config: add the key test.values" in err
    assert _files(study.runs_root) == []


def test_unknown_profile_names_the_file_to_write(make_study, capsys):
    study = make_study(ECHO, {"values": [1]})
    code, err = _run(capsys, *study.args("submit", profile="nosuch"))
    project_profiles = study.folder.parent / "configs" / "profiles"
    assert code == 2 and err.count("\n") == 1, err
    assert f"{project_profiles}; write {project_profiles / 'nosuch.yaml'} (e.g. schema_version: 1 and executor: local)" in err
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


QUICKSTART = REPO / "jobs" / "quickstart.yaml"

QUICKSTART_CASES = {  # --set assignment: what the one line names
    "NaN": ("quickstart.samples_per_task=.nan", "quickstart.samples_per_task: nan is not of type 'integer'"),
    "string for a number": ("quickstart.tasks='8'", "quickstart.tasks: '8' is not of type 'integer'"),
    "float for an integer": ("quickstart.samples_per_task=2.0e+5", "quickstart.samples_per_task: 200000.0 is not"),
    "unknown key": ("quickstart.sample_per_task=10", "'sample_per_task' was unexpected"),
    "too many points": ("quickstart.samples_per_task=1000000000", "greater than the maximum of 20000000"),
    "no tasks": ("quickstart.tasks=0", "quickstart.tasks: 0 is less than the minimum of 1"),
    "unsafe artifact name": ("quickstart.table_name=../../x", "quickstart.table_name: '../../x' does not match"),
}


@pytest.mark.parametrize("case", sorted(QUICKSTART_CASES))
def test_bad_quickstart_config(tmp_path, capsys, case):
    assignment, message = QUICKSTART_CASES[case]
    runs = tmp_path / "runs"
    code, err = _run(capsys, "submit", str(QUICKSTART), "--runs_root", str(runs), "--set", assignment)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not runs.exists()  # refused before any run (or the runs root) was created


def test_quickstart_config_file_with_nan_is_refused(tmp_path, capsys):
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    config["quickstart"]["tasks"] = float("nan")
    path = tmp_path / "nan.yaml"
    path.write_text(yaml.safe_dump(config))
    code, err = _run(capsys, "submit", str(QUICKSTART), "--config", str(path), "--runs_root", str(tmp_path / "runs"))
    assert code == 2 and err.count("\n") == 1 and "quickstart.tasks: nan is not of type 'integer'" in err, err
    assert not (tmp_path / "runs").exists()


def _special_input(tmp_path: Path, kind: str) -> Path:
    """A path that is not a regular file, or one over runlab.yamlio.MAX_INPUT_BYTES."""
    path = tmp_path / f"{kind}.yaml"  # a profile must be named *.yaml
    if kind == "fifo":
        os.mkfifo(path)  # opened for reading it would block until a writer came: nobody does
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(17 * 2**20)  # sparse: 17 MiB of zeros on no disk
    else:
        path.symlink_to("/dev/zero")  # endless: read whole it is a MemoryError; a link to an input is followed
    return path


SPECIAL_INPUTS = {"fifo": "is a FIFO, not a regular file", "folder": "is a directory, not a regular file",
                  "huge": "is larger than 16 MiB", "device": "is a character device, not a regular file"}


@pytest.mark.parametrize("flag", ["--config", "--profile", "--sweep_file", "manifest"])
@pytest.mark.parametrize("kind", sorted(SPECIAL_INPUTS))
def test_input_that_is_not_a_regular_file_is_refused_before_reading(make_study, tmp_path, capsys, flag, kind):
    study = make_study(ECHO, {"values": [1]})
    path = str(_special_input(tmp_path, kind))
    args = study.args("submit")
    if flag == "manifest":
        args[1] = path
    elif flag in args:
        args[args.index(flag) + 1] = path
    else:
        args += [flag, path]
    if kind == "fifo":  # in a subprocess with a timeout: a FIFO opened for reading would hang the command
        result = run_cli(*args, timeout=60)
        code, err = result.returncode, result.stderr
    else:
        code, err = _run(capsys, *args)
    what = {"--config": "config", "--profile": "profile", "--sweep_file": "sweep file", "manifest": "manifest"}[flag]
    shown = os.path.realpath(path) if flag == "manifest" else path  # a manifest is named by its resolved path
    assert code == 2 and err.count("\n") == 1 and f"{what} {shown} {SPECIAL_INPUTS[kind]}" in err, err
    assert _files(study.runs_root) == []


def _failed_run_then_resume(study, capsys, plant) -> tuple[int, str]:
    """Leave a failed run of stage S01 (the ``fail`` stage), let ``plant(run_dir)`` change it, then resume it with the
    checkpointing ``count`` stage: the run id hashes what a stage reads, not its entry, so it is the same run."""
    _edit_manifest(study, lambda m: m["stages"].update(S01={"entry": "tests.support.stages:fail", "reads": ["test"]}))
    assert _run(capsys, *study.args("submit"))[0] == 1
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    plant(run_dir)
    _edit_manifest(study, lambda m: m["stages"].update(S01={"entry": "tests.support.stages:count", "reads": ["test"]}))
    return _run(capsys, *study.args("submit", "--allow_resume"))


def test_checkpoint_folder_linked_out_of_the_run_is_neither_read_nor_written(make_study, capsys, tmp_path):
    study = make_study({}, {"steps": 3, "step_s": 0})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "state.json").write_text('{"next": 2, "total": 99, "starts": []}')

    def plant(run_dir: Path) -> None:
        (run_dir / ".checkpoint").rmdir()
        (run_dir / ".checkpoint").symlink_to(outside)

    code, err = _failed_run_then_resume(study, capsys, plant)
    assert code == 2 and err.count("\n") == 1, err
    assert "/.checkpoint is a symbolic link inside a run directory" in err
    assert sorted(os.listdir(outside)) == ["state.json"]
    assert (outside / "state.json").read_text() == '{"next": 2, "total": 99, "starts": []}'


def test_checkpoint_file_linked_out_of_the_run_is_not_read(make_study, capsys, tmp_path):
    study = make_study({}, {"steps": 3, "step_s": 0})
    secret = tmp_path / "secret.json"
    secret.write_text('{"next": 0, "total": 0, "starts": []}')
    code, err = _failed_run_then_resume(
        study, capsys, lambda run_dir: (run_dir / ".checkpoint" / "state.json").symlink_to(secret))
    assert code == 2 and err.count("\n") == 1 and "/.checkpoint/state.json is a symbolic link" in err, err
    assert secret.read_text() == '{"next": 0, "total": 0, "starts": []}'


@pytest.mark.parametrize("folder", ["results", "logs"])
def test_artifact_folder_linked_out_of_the_run_is_not_written(make_study, capsys, tmp_path, folder):
    """Refused when the run is reopened, before the stage or the runtime (its logs and events) writes anything."""
    study = make_study({}, {"steps": 1, "step_s": 0})
    outside = tmp_path / "outside"
    outside.mkdir()

    def plant(run_dir: Path) -> None:
        shutil.rmtree(run_dir / folder)
        (run_dir / folder).symlink_to(outside)

    code, err = _failed_run_then_resume(study, capsys, plant)
    assert code == 2 and err.count("\n") == 1 and f"/{folder} is a symbolic link inside a run directory" in err, err
    assert os.listdir(outside) == []


def _cli_under_mount(mount: str, *args: str) -> tuple[int, str]:
    """``runlab ARGS`` in a private mount namespace (``unshare -m``) after the shell command ``mount``, so that a
    read-only or full filesystem can be made even as root (root ignores a 0555 folder's mode) and vanishes after."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare -m (root or CAP_SYS_ADMIN) to mount a filesystem for the test")
    command = f"{mount} && exec {shlex.quote(sys.executable)} -m runlab {shlex.join(args)}"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "pkg"), str(REPO)])}
    environment.pop("RUNLAB_RUNS_ROOT", None)
    result = subprocess.run(["unshare", "-m", "sh", "-c", command], cwd=REPO, env=environment, capture_output=True,
                            text=True, timeout=300)
    return result.returncode, result.stderr


def test_read_only_runs_root_is_one_line_for_submit_and_status_still_reads_it(make_study, capsys):
    study = make_study(CHAIN, {"values": [1]})
    assert _run(capsys, *study.args("submit"))[0] == 0
    before = _files(study.runs_root)
    root = shlex.quote(str(study.runs_root))
    read_only = f"mount --bind {root} {root} && mount -o remount,bind,ro {root}"
    _edit_manifest(study, lambda m: m["stages"]["S01"].update(version=2))  # new runs to create
    code, err = _cli_under_mount(read_only, *study.args("submit"))
    assert code == 2 and err.count("\n") == 1, err
    assert "cannot take the lock of run RUN_S01_" in err
    assert f"runs root {study.runs_root} is on a read-only filesystem (EROFS); remount it read-write or pass " in err
    code, err = _cli_under_mount(read_only, "status", "--runs_root", str(study.runs_root))
    assert code == 0 and err == ""
    assert _files(study.runs_root) == before


def test_full_runs_root_is_one_line_naming_the_write_that_failed(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:big_writer", "reads": ["test"]}},
                       {"block_mb": 1, "blocks": 2})
    study.runs_root.mkdir()
    code, err = _cli_under_mount(f"mount -t tmpfs -o size=512k tmpfs {shlex.quote(str(study.runs_root))}",
                                 *study.args("submit"))
    assert code == 2 and err.count("\n") == 1, err
    assert "cannot write data/block_000.bin of run RUN_S01_" in err
    assert f"runs root {study.runs_root} is full (ENOSPC); free space on its filesystem" in err


@pytest.mark.parametrize(("port", "message"), [
    ("70000", "--port 70000 is not a TCP port (1-65535); pass --port 8765 or another free port"),
    ("0", "--port 0 is not a TCP port (1-65535)"),
])
def test_monitor_port_out_of_range_is_one_line(tmp_path, capsys, port, message):
    (tmp_path / "runs").mkdir()
    code, err = _run(capsys, "monitor", "--runs_root", str(tmp_path / "runs"), "--port", port)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_monitor_port_in_use_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _run(capsys, "monitor", "--runs_root", str(tmp_path / "runs"), "--port", str(port))
    assert code == 2 and err.count("\n") == 1, err
    assert f"port {port} on 127.0.0.1 is in use by another program (another monitor?); stop it" in err
    assert "pass another --port" in err
