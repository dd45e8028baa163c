"""The run lifecycle: cancel, rm, gc, export, and what a failed stage leaves behind (issue 18, item 4)."""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from runlab.errors import ExitCode, StageFailedError
from runlab.ledger import Claim, Ledger
from runlab.record import host_name
from runlab.scheduler import LIVE_STATES, query_job_states
from runlab.store import RunStore
from runlab.testing import finish, start_run
from tests.support.cli import REPO, cli_environment, run_cli
from tests.support.stages import CHAIN

NEEDS_DATA = {"S01": {"entry": "tests.support.stages:needs_data"}}
ONE_NODE = str(REPO / "configs" / "profiles" / "one-node.yaml")


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run_record.json").read_text())


def _runs(study) -> dict[str, Path]:
    """Stage tag -> run directory."""
    return {path.name.split("_")[1]: path for path in study.runs_root.glob("RUN_*")}


def _submitted(study, *extra: str) -> dict[str, Path]:
    result = run_cli(*study.args("submit", *extra))
    assert result.returncode == 0, result.stderr
    return _runs(study)


def _cli(study, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, "--runs_root", str(study.runs_root))


# -- what a failure leaves ----------------------------------------------------------------------


def test_failure_before_writing_leaves_no_run_and_the_corrected_command_just_runs(make_study):
    study = make_study(NEEDS_DATA, {"data_dir": "/nonexistent/emnist"})
    failed = run_cli(*study.args("submit"))
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert "FileNotFoundError: no data folder /nonexistent/emnist" in failed.stderr
    assert not list(study.runs_root.glob("RUN_*")) and not list(study.runs_root.glob(".RUN_*"))
    assert not Ledger(RunStore(study.runs_root)).all()
    folder = study.folder / "emnist"
    folder.mkdir()
    (folder / "train.idx").write_bytes(b"x")
    study.write_config({"data_dir": str(folder)})
    assert run_cli(*study.args("submit")).returncode == 0  # the corrected command, no --allow_resume
    assert _record(_runs(study)["S01"])["stage_status"] == "complete"


def test_failure_after_writing_ends_with_the_exact_command_that_continues(make_study):
    study = make_study(NEEDS_DATA, {"write_first": True})
    folder = study.folder / "arrives_later"
    study.write_config({"data_dir": str(folder), "write_first": True})
    failed = run_cli(*study.args("submit"))
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    run_dir = _runs(study)["S01"]
    assert _record(run_dir)["stage_status"] == "failed"
    line = failed.stderr.strip()
    assert line.startswith(f"runlab: error: FileNotFoundError: no data folder {folder}; --debug shows the traceback; ")
    prefix = f"run {run_dir.name} is kept; once the cause is fixed, continue it with: "
    assert prefix in line
    command = shlex.split(line.split(prefix, 1)[1])
    assert command == ["runlab", *study.args("submit"), "--allow_resume"]

    again = run_cli(*command[1:])  # the cause is not fixed yet: it fails again and names the same command
    assert again.returncode == 1 and shlex.split(again.stderr.strip().split(prefix, 1)[1]) == command
    folder.mkdir()
    assert run_cli(*command[1:]).returncode == 0
    record = _record(run_dir)
    assert record["stage_status"] == "complete" and record["timings"]["attempts"] == 3


def test_a_stage_raising_a_config_error_before_writing_keeps_exit_2_and_no_run(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:annotate"}}, {"bad_annotation": "key"})
    failed = run_cli(*study.args("submit"))
    assert failed.returncode == 2 and "invalid annotation key 'Data-Source'" in failed.stderr
    assert not list(study.runs_root.glob("RUN_*")) and not list(study.runs_root.glob(".RUN_*"))


def test_the_kept_failure_error_keeps_its_code_and_fields_across_pickling():
    error = StageFailedError("no data folder /x", "RUN_S01_0123456789ab", ExitCode.SCHEMA, "create it",
                             "runlab submit m.yaml --allow_resume")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == ("no data folder /x; create it; run RUN_S01_0123456789ab is kept; once the cause "
                                       "is fixed, continue it with: runlab submit m.yaml --allow_resume")
    assert (copy.exit_code, copy.run_id, copy.cause_hint) == (ExitCode.SCHEMA, "RUN_S01_0123456789ab", "create it")


def test_discard_removes_only_an_incomplete_run_that_holds_nothing(tmp_path):
    store = RunStore(tmp_path / "runs")
    empty = start_run(store, "S01", {"a": 1})
    checkpointed = start_run(store, "S01", {"a": 2})
    checkpointed.save_checkpoint({"step": 3})
    annotated = start_run(store, "S01", {"a": 3})
    annotated.annotate("source", "synthetic")
    written = start_run(store, "S01", {"a": 4})
    written.write_json("results/x.json", {"x": 1})
    complete = start_run(store, "S01", {"a": 5})
    finish(complete)
    outcomes = {run.run_id: store.discard_unstarted_run(run.run_id)
                for run in (empty, checkpointed, annotated, written, complete)}
    assert outcomes == {empty.run_id: True, checkpointed.run_id: False, annotated.run_id: False,
                        written.run_id: False, complete.run_id: False}
    assert store.run_ids() == sorted(run.run_id for run in (checkpointed, annotated, written, complete))
    assert not list(store.root.glob(".RUN_*")) and store.discard_unstarted_run(empty.run_id) is False


# -- rm -----------------------------------------------------------------------------------------


def test_rm_removes_failed_runs_and_complete_ones_only_with_force_and_no_dependants(make_study):
    study = make_study(CHAIN, {"values": [1, 2]})
    runs = _submitted(study)
    failing = make_study({"S01": {"entry": "tests.support.stages:fail"}}, {}, name="failing")
    failing.runs_root = study.runs_root
    assert run_cli(*failing.args("submit")).returncode == 1
    (failed,) = [path for path in study.runs_root.glob("RUN_S01_*") if path != runs["S01"]]

    removed = _cli(study, "rm", failed.name[:16])  # a unique prefix will do
    assert removed.returncode == 0, removed.stderr
    assert f"removed {failed.name} (failed, " in removed.stdout and not failed.exists()

    refused = _cli(study, "rm", runs["S03"].name)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    depended = _cli(study, "rm", "--force", runs["S01"].name)
    assert depended.returncode == 2 and depended.stderr.count("\n") == 1
    assert f"complete runs depend on {runs['S01'].name}: {runs['S02'].name}" in depended.stderr
    assert all(path.exists() for path in runs.values())

    together = _cli(study, "rm", "--force", runs["S02"].name, runs["S03"].name)
    assert together.returncode == 0, together.stderr
    assert together.stdout.splitlines()[-1].startswith("removed 2 runs, ")
    assert not runs["S02"].exists() and not runs["S03"].exists() and runs["S01"].exists()
    assert not list(study.runs_root.glob(".RUN_*"))
    assert _cli(study, "verify", "--all").returncode == 0


# -- cancel and rm of a local holder ------------------------------------------------------------


def test_cancel_stops_a_local_submit_and_marks_its_run_cancelled(make_study):
    study = make_study(CHAIN, {"values": [1], "sleep_s": 120})
    process = subprocess.Popen([sys.executable, "-m", "runlab", *study.args("submit")], cwd=REPO,
                               env=cli_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while "S01" not in _runs(study):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        run_dir = _runs(study)["S01"]
        busy = _cli(study, "rm", run_dir.name)
        assert busy.returncode == 2 and f"being worked on by pid {process.pid} on {host_name()}" in busy.stderr

        cancelled = _cli(study, "cancel", run_dir.name)
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"sent SIGTERM to pid {process.pid}" in cancelled.stdout
        assert process.wait(timeout=30) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    record = _record(run_dir)
    assert record["stage_status"] == "failed" and record["error"]["type"] == "Cancelled"
    assert record["error"]["message"].startswith("cancelled by ")
    assert not Ledger(RunStore(study.runs_root)).all()
    again = _cli(study, "cancel", run_dir.name)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout and "is failed" in again.stdout
    assert _cli(study, "rm", run_dir.name).returncode == 0 and not run_dir.exists()


# -- gc -----------------------------------------------------------------------------------------


def test_gc_removes_stale_temporaries_half_made_runs_dead_claims_and_old_failed_runs(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:echo"}}, {"values": [3]})
    complete = _submitted(study)["S01"]
    failing = make_study({"S01": {"entry": "tests.support.stages:fail"}}, {}, name="failing")
    failing.runs_root = study.runs_root
    assert run_cli(*failing.args("submit")).returncode == 1
    (failed,) = [path for path in study.runs_root.glob("RUN_S01_*") if path != complete]

    an_hour_ago = time.time() - 3600
    stale = complete / "results" / ".values.parquet.0123456789ab.tmp"
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (an_hour_ago, an_hour_ago))
    fresh = complete / "results" / ".values.parquet.ba9876543210.tmp"  # a writer may be about to commit it
    fresh.write_bytes(b"y" * 10)
    half_made = study.runs_root / f".{complete.name.replace('RUN_S01', 'RUN_S02')}.0123456789ab.creating"
    (half_made / "results").mkdir(parents=True)
    (half_made / "run_record.json").write_bytes(b"z" * 500)
    os.utime(half_made, (an_hour_ago, an_hour_ago))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store = RunStore(study.runs_root)
    Ledger(store).write(Claim(failed.name, "feedfacefeedface", "local", host_name(), int(dead.stdout)))

    kept = _cli(study, "gc", "--older-than", "1h", "--dry-run")
    assert kept.returncode == 0, kept.stderr
    lines = kept.stdout.splitlines()
    assert f"would remove temporary {complete.name}/results/{stale.name} (1000 bytes)" in lines
    assert f"would remove half-made run directory {half_made.name} (500 bytes)" in lines
    assert any(line.startswith(f"would remove dead claim of {failed.name} (pid {dead.stdout.strip()} on ")
               for line in lines)
    assert not [line for line in lines if fresh.name in line or "failed run" in line]
    assert stale.exists() and half_made.exists() and Ledger(store).all()

    dry = _cli(study, "gc", "--older-than", "0s", "--dry-run")
    assert f"would remove failed run {failed.name}, failed " in dry.stdout
    would_free = int(dry.stdout.splitlines()[-1].split()[2])
    assert would_free == 1000 + 500 + _size(Ledger(store).folder / f"{failed.name}.json") + _size(failed)

    done = _cli(study, "gc", "--older-than", "0s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"freed {would_free} bytes (4 items)"
    assert not stale.exists() and fresh.exists() and not half_made.exists() and not failed.exists()
    assert not Ledger(store).all() and complete.exists()
    fresh.unlink()
    assert _cli(study, "verify", "--all").returncode == 0
    assert _cli(study, "gc").stdout.strip() == "freed 0 bytes (0 items)"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


# -- export -------------------------------------------------------------------------------------


def test_export_with_upstream_verifies_in_a_fresh_runs_root_and_a_damaged_member_does_not(make_study, tmp_path):
    study = make_study(CHAIN, {"values": [5, 6]})
    runs = _submitted(study)
    archive = tmp_path / "lineage.tar.gz"
    exported = _cli(study, "export", runs["S03"].name, "--with-upstream", str(archive))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"exported {runs['S03'].name} and 2 upstream runs (")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert {name.split("/")[0] for name in names} == {path.name for path in runs.values()}
    assert not [name for name in names if ".checkpoint" in name or name.endswith(".tmp")]

    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(fresh, filter="data")
    verified = run_cli("verify", "--all", "--runs_root", str(fresh))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(": ok (complete, ") == 3

    alone = tmp_path / "alone.tar.gz"
    assert _cli(study, "export", runs["S02"].name, str(alone)).returncode == 0
    with tarfile.open(alone) as tar:
        assert {name.split("/")[0] for name in tar.getnames()} == {runs["S02"].name}

    damaged = tmp_path / "damaged.tar.gz"
    _rewrite_one_member(archive, damaged, f"{runs['S01'].name}/results/values.parquet")
    broken = tmp_path / "broken"
    broken.mkdir()
    with tarfile.open(damaged) as tar:
        tar.extractall(broken, filter="data")
    refused = run_cli("verify", "--all", "--runs_root", str(broken))
    assert refused.returncode == 2
    problem = "does not verify: results/values.parquet: sha256 differs from the record"
    assert f"{runs['S01'].name}: {problem}" in refused.stdout


def _rewrite_one_member(source: Path, target: Path, name: str) -> None:
    """Copy archive ``source`` to ``target`` with one byte of member ``name`` flipped."""
    with tarfile.open(source) as reading, tarfile.open(target, "w:gz") as writing:
        for member in reading.getmembers():
            data = reading.extractfile(member).read() if member.isfile() else None
            if member.name == name:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            writing.addfile(member, io.BytesIO(data) if data is not None else None)


def test_export_refuses_an_incomplete_run_in_one_line(make_study, tmp_path):
    study = make_study({"S01": {"entry": "tests.support.stages:fail"}}, {})
    assert run_cli(*study.args("submit")).returncode == 1
    (failed,) = study.runs_root.glob("RUN_*")
    refused = _cli(study, "export", failed.name, "--with-upstream", str(tmp_path / "x.tar.gz"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"run {failed.name} is failed, not complete" in refused.stderr
    assert not list(tmp_path.glob("*x.tar.gz*"))


# -- cancel on SLURM ----------------------------------------------------------------------------


@pytest.mark.slurm
def test_cancel_of_a_manifest_scancels_every_queued_or_running_run_of_its_config(make_study):
    study = make_study(CHAIN, {"values": [1], "sleep_s": 300})
    submitted = run_cli(*study.args("submit", profile=ONE_NODE))
    assert submitted.returncode == 0, submitted.stderr
    claims = {claim.run_id: claim for claim in Ledger(RunStore(study.runs_root)).all()}
    assert len(claims) == 3
    jobs = [job for claim in claims.values() for job in claim.job_ids]
    deadline = time.monotonic() + 300  # the shared cluster may be busy with other jobs
    while not list(study.runs_root.glob("RUN_S01_*")):  # S01 running, S02 and S03 waiting on it
        assert time.monotonic() < deadline
        time.sleep(0.5)

    cancelled = run_cli(*study.args("cancel"))
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"scancel {' '.join(jobs)}" in cancelled.stdout
    while any(state.state in LIVE_STATES for state in query_job_states(jobs).values()):
        assert time.monotonic() < deadline + 60
        time.sleep(0.5)
    (s01,) = study.runs_root.glob("RUN_S01_*")
    record = _record(s01)
    assert record["stage_status"] == "failed" and record["error"]["type"] == "Cancelled"
    assert not list(study.runs_root.glob("RUN_S02_*")) and not Ledger(RunStore(study.runs_root)).all()
    assert "cancelled before it started (no run directory)" in cancelled.stdout
    status = run_cli(*study.args("status"))
    assert status.returncode == 0 and "failed" in status.stdout and "queued" not in status.stdout
    assert "nothing of study testing" in run_cli(*study.args("cancel")).stdout
