"""Running or dead: ``runlab status`` and ``show`` tell a run whose holder is alive from one whose holder was
killed, show elapsed for every state, progress for running runs, the study and config group, and a summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runlab.layout import ALIVE_DIR
from runlab.ledger import Claim, Ledger
from runlab.status import status_rows
from runlab.store import RunStore
from tests.support.cli import REPO, cli_environment, run_cli

GATED = {"S01": {"entry": "tests.support.stages:progress_then_wait"}}


def _rows(stdout: str) -> dict[str, list[str]]:
    """Status rows by stage: RUN_ID STAGE STATUS VERDICT SLURM ELAPSED STUDY CONFIG, then progress and note."""
    return {line.split()[1]: line.split() for line in stdout.splitlines()[1:-1]}


def _wait_for(predicate, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runlab", *command], cwd=REPO, env=cli_environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _progress_reported(runs_root: Path) -> bool:
    return any("progress" in path.read_text() for path in runs_root.glob("RUN_S01_*/logs/events.jsonl"))


def test_a_running_run_shows_progress_and_a_killed_one_is_dead_with_its_elapsed_frozen(make_study, tmp_path):
    study = make_study(GATED, {"steps": 8, "gate": str(tmp_path / "gate")})
    submitter = _start(study.args("submit"))
    try:
        _wait_for(lambda: _progress_reported(study.runs_root))
        status = run_cli(*study.args("status"))
        row = _rows(status.stdout)["S01"]
        assert row[2] == "running" and row[6] == "testing" and len(row[7]) == 8
        assert "2/8 step, eta" in status.stdout and status.stdout.splitlines()[-1] == "1 run: 1 running"
        (run_dir,) = study.runs_root.glob("RUN_S01_*")
        shown = run_cli("show", run_dir.name, "--runs-root", str(study.runs_root)).stdout
        assert f"status     running (pid {submitter.pid} on " in shown

        os.killpg(submitter.pid, signal.SIGKILL)
        submitter.wait(timeout=30)
        first = run_cli(*study.args("status")).stdout
        time.sleep(1.2)
        second = run_cli(*study.args("status")).stdout
        assert _rows(first)["S01"][2] == "dead" and first.splitlines()[-1] == "1 run: 1 dead"
        assert _rows(first)["S01"][5] == _rows(second)["S01"][5] != "-"  # elapsed stops at the last sign of life
        assert "no live holder: continue it with runlab submit --allow-resume" in first
        shown = run_cli("show", run_dir.name, "--runs-root", str(study.runs_root)).stdout
        assert "status     dead  attempts 1  elapsed " in shown and "elapsed None" not in shown

        (tmp_path / "gate").touch()
        resumed = run_cli(*study.args("submit", "--allow-resume"))
        assert resumed.returncode == 0, resumed.stderr
        assert _rows(run_cli(*study.args("status")).stdout)["S01"][2] == "complete"
    finally:
        if submitter.poll() is None:
            os.killpg(submitter.pid, signal.SIGKILL)


def test_a_run_executed_by_hand_holds_it_through_its_attempt_mark(make_study, tmp_path):
    study = make_study(GATED, {"steps": 4, "gate": str(tmp_path / "gate")})
    executor = _start(["exec-stage", str(study.manifest), "--config", str(study.config), "--runs-root",
                       str(study.runs_root), "--stage", "S01"])  # no claim: the attempt's own mark holds the run
    try:
        _wait_for(lambda: _progress_reported(study.runs_root))
        (run_dir,) = study.runs_root.glob("RUN_S01_*")
        (mark,) = (run_dir / ALIVE_DIR).iterdir()
        assert mark.name == "001-stage.json" and json.loads(mark.read_text())["pid"] == executor.pid
        assert _rows(run_cli(*study.args("status")).stdout)["S01"][2] == "running"
        os.killpg(executor.pid, signal.SIGKILL)
        executor.wait(timeout=30)
        assert _rows(run_cli(*study.args("status")).stdout)["S01"][2] == "dead"
    finally:
        if executor.poll() is None:
            os.killpg(executor.pid, signal.SIGKILL)
    (tmp_path / "gate").touch()
    assert run_cli(*study.args("submit", "--allow-resume")).returncode == 0
    assert not (run_dir / ALIVE_DIR).exists()  # a complete run keeps no attempt marks


def test_a_failed_runs_elapsed_ends_at_its_failure(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:fail"}}, {"values": [1]})
    assert run_cli(*study.args("submit")).returncode == 1
    first = _rows(run_cli(*study.args("status")).stdout)["S01"]
    time.sleep(1.2)
    second = run_cli(*study.args("status")).stdout
    assert first[2] == "failed" and first[5] == _rows(second)["S01"][5]
    assert second.splitlines()[-1] == "1 run: 1 failed"


def test_without_slurm_commands_a_clusters_jobs_are_unknown_and_taken_as_live(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    Ledger(store).write(Claim("RUN_S01_0123456789ab", "e" * 16, "slurm", "login-1", 4242, job_ids=("777",)))
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue, no sacct: a cluster's runs root read on a laptop
    (row,) = status_rows(store, None)
    assert (row.status, row.slurm_state) == ("queued", "unknown")
    assert not _gc_would_remove_a_claim(store)


def _gc_would_remove_a_claim(store: RunStore) -> bool:
    """Whether ``runlab gc`` (its dry run) would remove a claim under ``store``."""
    from runlab.lifecycle import collect_garbage

    said: list[str] = []
    collect_garbage(store, older_than_s=None, dry_run=True, say=said.append)
    return any("claim" in line for line in said)
