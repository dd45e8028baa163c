"""A run's own logs: each attempt's stdout and stderr and the event log kept in the run, ``runlab logs``,
closed pipes, and progress reports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runlab.errors import SchemaError
from runlab.eventlog import append_event, read_events
from runlab.layout import is_runtime_log
from runlab.progress import Progress, eta_s, format_duration
from tests.support.cli import REPO, cli_environment, run_cli

CHATTY = {"S01": {"entry": "tests.support.stages:chatty"}}


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run_record.json").read_text())


def test_every_byte_a_stage_prints_is_kept_in_its_attempt_and_shown_by_runlab_logs(make_study):
    study = make_study(CHATTY, {"lines": 3, "steps": 4})
    submitted = run_cli(*study.args("submit"))
    assert submitted.returncode == 0, submitted.stderr
    assert "line 2" in submitted.stdout and "from a child process" in submitted.stdout  # still shown as before
    (run_dir,) = study.runs_root.glob("RUN_S01_*")

    out = (run_dir / "logs/attempts/001-stage.out").read_text()
    assert out == "first line from the stage\nline 0\nline 1\nline 2\nfrom a child process\n"
    err = (run_dir / "logs/attempts/001-stage.err").read_text()
    assert "a warning on stderr\n" in err and f"progress {run_dir.name} stage: 4/4 step" in err
    indexed = {entry["relative_path"] for entry in _record(run_dir)["artifact_index"]}
    assert {"logs/events.jsonl", "logs/attempts/001-stage.out", "logs/attempts/001-stage.err"} <= indexed
    assert run_cli("verify", run_dir.name[:12], "--runs-root", str(study.runs_root)).returncode == 0

    shown = run_cli("logs", run_dir.name[:14], "--runs-root", str(study.runs_root))
    assert shown.returncode == 0, shown.stderr
    header, *lines = shown.stdout.splitlines()
    assert header.startswith("== attempt 1 stage stdout (") and "pid " in header
    assert lines[:5] == ["first line from the stage", "line 0", "line 1", "line 2", "from a child process"]
    assert lines[5].startswith("== attempt 1 stage stderr (") and "a warning on stderr" in lines[6:]

    events = run_cli("logs", run_dir.name, "--events", "--runs-root", str(study.runs_root)).stdout.splitlines()
    assert [line.split()[1] for line in events] == ["created", "attempt_started", "progress", "progress",
                                                     "complete"]
    progress = [event for event in read_events(run_dir) if event["event"] == "progress"]
    assert [(event["done"], event["total"], event["unit"]) for event in progress] == [(1, 4, "step"), (4, 4, "step")]


def test_a_failed_attempt_keeps_its_output_and_the_error_line_and_a_resume_is_attempt_two(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:fail"}}, {"values": [1]})
    assert run_cli(*study.args("submit")).returncode == 1
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert run_cli(*study.args("submit", "--allow-resume")).returncode == 1
    events = read_events(run_dir)
    assert [event["attempt"] for event in events if event["event"] == "attempt_started"] == [1, 2]
    failures = [event for event in events if event["event"] == "failed"]
    assert len(failures) == 2 and all(event["error"] == _record(run_dir)["error"]["message"] for event in failures)
    assert run_cli("logs", run_dir.name, "--attempt", "3", "--runs-root", str(study.runs_root)).returncode == 2
    assert not any(is_runtime_log(entry["relative_path"]) for entry in _record(run_dir)["artifact_index"])
    assert run_cli("verify", run_dir.name, "--runs-root", str(study.runs_root)).returncode == 0  # not yet indexed


def test_a_closed_pipe_fails_neither_the_stage_nor_the_command(make_study):
    study = make_study(CHATTY, {"lines": 20000})
    environment = cli_environment()
    command = " ".join(map(str, [sys.executable, "-m", "runlab", *study.args("submit")]))
    piped = subprocess.run(["bash", "-c", f"{command} | head -n 1; echo \"exit ${{PIPESTATUS[0]}}\""], cwd=REPO,
                           env=environment, capture_output=True, text=True, timeout=300)
    assert piped.stdout.splitlines()[-1] == "exit 0", piped.stdout[-2000:] + piped.stderr
    assert "BrokenPipe" not in piped.stderr and "Traceback" not in piped.stderr
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert _record(run_dir)["stage_status"] == "complete"
    assert (run_dir / "logs/attempts/001-stage.out").read_text().count("\n") == 20000 + 2  # every line kept

    status = subprocess.run(["bash", "-c", f"{sys.executable} -m runlab status --runs-root {study.runs_root} | head -n 0;"
                             " echo \"exit ${PIPESTATUS[0]}\""], cwd=REPO, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert status.stdout == "exit 0\n" and status.stderr == ""


def test_logs_follow_prints_a_running_runs_output_as_it_comes_and_ends_with_the_run(make_study, tmp_path):
    gate = tmp_path / "gate"
    study = make_study(CHATTY, {"lines": 2, "gate": str(gate)})
    environment = cli_environment()
    submitter = subprocess.Popen([sys.executable, "-m", "runlab", *study.args("submit")], cwd=REPO, env=environment,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(study.runs_root.glob("RUN_S01_*/logs/attempts/001-stage.out")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (run_dir,) = study.runs_root.glob("RUN_S01_*")
        follower = subprocess.Popen([sys.executable, "-m", "runlab", "logs", run_dir.name, "-f", "--runs-root",
                                     str(study.runs_root)], cwd=REPO, env=environment, stdout=subprocess.PIPE, text=True)
        assert follower.stdout.readline().startswith("== attempt 1 stage stdout")
        assert follower.stdout.readline() == "first line from the stage\n"  # while the stage waits at its gate
        assert follower.poll() is None
        gate.touch()
        rest, _ = follower.communicate(timeout=120)
        assert follower.returncode == 0
        assert "line 1\nfrom a child process\n" in rest and "a warning on stderr" in rest
        assert submitter.wait(timeout=120) == 0
    finally:
        submitter.kill()


def test_a_stage_cannot_write_over_the_runtimes_logs(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:write_named"}}, {"path": "logs/events.jsonl"})
    failed = run_cli(*study.args("submit"))
    assert failed.returncode == 2 and "logs/events.jsonl is the runtime's own log" in failed.stderr


def test_progress_spaces_its_reports_and_always_reports_the_end(tmp_path):
    run_dir = tmp_path / "RUN_S01_000000000000"
    (run_dir / "logs").mkdir(parents=True)
    with Progress(run_dir, run_dir.name, "task-0002", total=1000, unit="candidate", interval_s=3600) as progress:
        for _ in range(1000):
            progress.advance()
    reports = [event for event in read_events(run_dir) if event["event"] == "progress"]
    assert [(event["done"], event["part"]) for event in reports] == [(1, "task-0002"), (1000, "task-0002")]
    with pytest.raises(ValueError):
        Progress(run_dir, run_dir.name, "stage", total=-1, unit="step")


@pytest.mark.parametrize(("done", "total", "elapsed_s", "expected"),
                         [(0, 10, 5.0, None), (2, 10, 4.0, 16.0), (10, 10, 7.0, 0.0), (3, 3, 0.0, None)])
def test_eta_is_the_mean_rate_so_far(done, total, elapsed_s, expected):
    assert eta_s(done, total, elapsed_s) == expected


def test_durations_read_like_a_clock():
    assert [format_duration(s) for s in (0, 59.6, 75, 3599, 4000)] == ["0s", "1m00s", "1m15s", "59m59s", "1h06m"]


def test_the_event_log_is_never_written_through_a_link_out_of_the_run(tmp_path):
    run_dir, outside = tmp_path / "RUN_S01_000000000000", tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    (run_dir / "logs").symlink_to(outside)
    with pytest.raises(SchemaError, match="is a symbolic link inside a run directory"):
        append_event(run_dir, "checkpoint", part="stage")
    assert list(outside.iterdir()) == []
