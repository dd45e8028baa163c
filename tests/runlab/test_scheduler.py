"""runlab.scheduler: parsers on squeue/sacct output captured from the one-node cluster
(tests/runlab/data/slurm/capture.sh), and batched queries against the real cluster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runlab import scheduler
from runlab.errors import RunlabError
from runlab.scheduler import (
    JobState,
    array_state,
    cluster_reachable,
    max_array_size,
    parse_sacct,
    parse_squeue,
    query_job_states,
)

DATA = Path(__file__).parent / "data" / "slurm"
JOBS: dict[str, str] = json.loads((DATA / "jobs.json").read_text())
UNKNOWN_ID = "67000000"  # above any id this cluster hands out (MaxJobId is 67043328)
ONE_NODE_DBD_PID = Path("/run/runlab-slurm/slurmdbd.pid")  # written by slurm/one-node/start.sh
START_SH = Path(__file__).parents[2] / "slurm" / "one-node" / "start.sh"


def _capture(name: str) -> str:
    return (DATA / name).read_text()


def _state(states: dict[str, JobState], scenario: str, task: int | None = None) -> JobState:
    job_id = JOBS[scenario] if task is None else f"{JOBS[scenario]}_{task}"
    return states[job_id]


# --- parsers on captured output ------------------------------------------------------------------


def test_parse_squeue_sees_live_and_recently_ended_jobs() -> None:
    states = parse_squeue(_capture("squeue_live.txt"))
    assert len(states) == 14
    assert _state(states, "timeout") == JobState(JOBS["timeout"], "RUNNING", 28, "squeue")
    assert _state(states, "running").state == "RUNNING"
    assert _state(states, "pending") == JobState(JOBS["pending"], "PENDING", 0, "squeue")
    assert _state(states, "completed") == JobState(JOBS["completed"], "COMPLETED", 1, "squeue")
    assert _state(states, "failed").state == "FAILED"
    assert _state(states, "cancelled") == JobState(JOBS["cancelled"], "CANCELLED", 0, "squeue")
    assert _state(states, "requeued") == JobState(JOBS["requeued"], "COMPLETED", 5, "squeue")
    assert [_state(states, "array_done", task).state for task in (1, 2, 3, 4)] == [
        "COMPLETED",
        "COMPLETED",
        "FAILED",
        "COMPLETED",
    ]
    assert {_state(states, "array_pending", task).state for task in (1, 2, 3)} == {"PENDING"}


def test_parse_squeue_after_the_end_and_through_a_requeue() -> None:
    ended = parse_squeue(_capture("squeue_ended.txt"))
    assert _state(ended, "timeout") == JobState(JOBS["timeout"], "TIMEOUT", 65, "squeue")  # "1:05"
    assert _state(ended, "running").state == "CANCELLED"
    assert {state.state for key, state in ended.items() if key.startswith(JOBS["array_pending"] + "_")} == {
        "COMPLETED"
    }
    assert parse_squeue(_capture("squeue_requeued.txt"))[JOBS["requeued"]].state == "COMPLETING"
    assert parse_squeue(_capture("squeue_requeued_pending.txt"))[JOBS["requeued"]].state == "PENDING"


def test_parse_squeue_durations_with_hours_and_days() -> None:
    states = parse_squeue("5_1|RUNNING|1:02:03\n5_2|RUNNING|2-01:00:00\n6|PENDING|INVALID\n")
    assert [state.elapsed_s for state in states.values()] == [3723, 176400, None]


def test_parse_sacct_strips_who_cancelled_and_reads_raw_seconds() -> None:
    states = parse_sacct(_capture("sacct_ended.txt"))
    assert len(states) == 14
    assert _state(states, "cancelled") == JobState(JOBS["cancelled"], "CANCELLED", 0, "sacct")  # "CANCELLED by 0"
    assert _state(states, "running") == JobState(JOBS["running"], "CANCELLED", 1, "sacct")
    assert _state(states, "timeout") == JobState(JOBS["timeout"], "TIMEOUT", 65, "sacct")
    assert _state(states, "failed").state == "FAILED"
    assert _state(states, "array_done", 3) == JobState(f"{JOBS['array_done']}_3", "FAILED", 1, "sacct")
    assert _state(states, "requeued") == JobState(JOBS["requeued"], "COMPLETED", 5, "sacct")
    assert parse_sacct(_capture("sacct_requeued_pending.txt"))[JOBS["requeued"]].state == "REQUEUED"


def test_sacct_lags_squeue() -> None:
    """Seen while capturing: slurmdbd trails slurmctld, which is why squeue is asked first."""
    live = parse_squeue(_capture("squeue_live.txt"))
    accounted = parse_sacct(_capture("sacct_live.txt"))
    assert _state(live, "running").state == "RUNNING"
    assert _state(accounted, "running").state == "PENDING"
    assert JOBS["pending"] not in accounted
    assert not any(key.startswith(JOBS["array_pending"] + "_") for key in accounted)


def test_parse_sacct_expands_unstarted_array_tasks() -> None:
    accounted = parse_sacct(_capture("sacct_held.txt"))  # one row: "<id>_[1-5%2]|PENDING|0"
    live = parse_squeue(_capture("squeue_held.txt"))
    tasks = [f"{JOBS['held_array']}_{task}" for task in range(1, 6)]
    assert sorted(accounted) == sorted([*tasks, JOBS["requeue_held"]])
    assert sorted(live) == sorted(accounted)
    assert {accounted[task].state for task in tasks} == {"PENDING"}


def test_an_array_stays_an_array_while_sacct_lists_it_as_one_job() -> None:
    array = JOBS["array_lag"]
    lagging = parse_sacct(_capture("sacct_array_lag.txt"))
    assert lagging == {array: JobState(array, "COMPLETED", 0, "sacct")}  # no tasks yet
    live = parse_squeue(_capture("squeue_array_lag.txt"))
    states = scheduler._select([array], {**lagging, **live})  # how query_job_states merges: squeue wins
    assert sorted(states) == [array, *(f"{array}_{task}" for task in range(4))]
    assert states[array] == JobState(array, "COMPLETED", 0, "squeue")


def test_parsers_reject_other_formats() -> None:
    with pytest.raises(RunlabError, match="unexpected squeue output"):
        parse_squeue("             JOBID PARTITION     NAME     USER ST       TIME  NODES NODELIST(REASON)\n")
    with pytest.raises(RunlabError, match="unexpected sacct output"):
        parse_sacct("1|wrap|debug|root|1|COMPLETED|0:0|\n")


def test_no_accounting_messages_are_the_real_ones() -> None:
    for name in ("sacct_no_accounting.txt", "sacct_slurmdbd_down.txt", "sacct_mariadb_down.txt"):
        text = _capture(name)
        assert "rc=1" in text
        assert any(message in text for message in scheduler._NO_ACCOUNTING), name
    assert scheduler._SQUEUE_UNKNOWN_ID in _capture("squeue_unknown_single.txt")
    assert parse_squeue(_capture("squeue_unknown_mixed.txt")) == {
        JOBS["completed"]: JobState(JOBS["completed"], "COMPLETED", 1, "squeue")
    }


def test_max_array_size_from_captured_config() -> None:
    assert scheduler._parse_max_array_size(_capture("scontrol_show_config.txt")) == 1001


def test_array_state_on_captured_arrays() -> None:
    live = parse_squeue(_capture("squeue_live.txt"))
    ended = parse_squeue(_capture("squeue_ended.txt"))

    def tasks(states: dict[str, JobState], scenario: str) -> list[JobState]:
        return [state for key, state in states.items() if key.startswith(JOBS[scenario] + "_")]

    assert array_state(tasks(live, "array_pending")) == "PENDING"
    assert array_state(tasks(ended, "array_pending")) == "COMPLETED"
    assert array_state(tasks(ended, "array_done")) == "FAILED"
    assert array_state(tasks(ended, "array_pending") + tasks(live, "array_pending")[:1]) == "RUNNING"
    assert array_state(tasks(ended, "array_pending") + [live[JOBS["running"]]]) == "RUNNING"


def test_array_state_orders_end_states() -> None:
    def states(*names: str) -> list[JobState]:
        return [JobState(f"9_{index}", name, 1, "sacct") for index, name in enumerate(names)]

    assert array_state(states("CANCELLED", "TIMEOUT", "COMPLETED")) == "TIMEOUT"
    assert array_state(states("CANCELLED", "FAILED", "TIMEOUT")) == "FAILED"
    assert array_state(states("COMPLETED", "CANCELLED")) == "CANCELLED"
    assert array_state(states("REQUEUED", "PENDING")) == "PENDING"
    assert array_state([]) == "UNKNOWN"


# --- without a cluster -----------------------------------------------------------------------------


def test_missing_squeue_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunlabError, match="squeue not found") as caught:
        query_job_states(["1"])
    assert "start.sh" in caught.value.hint
    assert cluster_reachable() is False


def test_query_checks_ids_before_calling_slurm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert query_job_states([]) == {}
    with pytest.raises(RunlabError, match="not a SLURM job id"):
        query_job_states(["12", "12;rm -rf /"])


# --- on the real cluster ---------------------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The programs run through subprocess.run, in order (the calls go through unchanged)."""
    seen: list[str] = []
    run = subprocess.run

    def recording_run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.append(argv[0])
        return run(argv, *args, **kwargs)

    monkeypatch.setattr(scheduler.subprocess, "run", recording_run)
    return seen


@pytest.fixture
def submit(slurm_cluster: Any) -> Iterator[Callable[..., str]]:
    """``submit(*sbatch_args, wrap=cmd)`` -> job id; every job still queued at the end is cancelled."""
    submitted: list[str] = []

    def _submit(*args: str, wrap: str) -> str:
        out = subprocess.run(
            ["sbatch", "--parsable", f"--partition={slurm_cluster.partition}", "--output=/dev/null", *args, "--wrap", wrap],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        submitted.append(out.strip().split(";")[0])
        return submitted[-1]

    yield _submit
    if submitted:
        subprocess.run(["scancel", *submitted], check=False)


def _wait_for(job_ids: list[str], done: Callable[[dict[str, JobState]], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done(query_job_states(job_ids)):
        assert time.monotonic() < deadline, f"jobs {job_ids} did not get there in {timeout_s} s"
        time.sleep(0.3)


@pytest.mark.slurm
def test_one_squeue_and_one_sacct_call_for_every_kind_of_job(
    submit: Callable[..., str], calls: list[str]
) -> None:
    running = submit(wrap="sleep 120")
    held = submit("--hold", wrap="true")
    completed = submit(wrap="true")
    failed = submit(wrap="exit 3")
    cancelled = submit("--hold", wrap="true")
    array = submit("--array=0-3", wrap='test "$SLURM_ARRAY_TASK_ID" -ne 2')
    held_array = submit("--hold", "--array=1-3", wrap="true")
    subprocess.run(["scancel", cancelled], check=True)
    ended = {"COMPLETED", "FAILED", "CANCELLED"}
    _wait_for(
        [running, completed, failed, cancelled, array],
        lambda s: s[running].state == "RUNNING" and {s[j].state for j in (completed, failed, cancelled, array)} <= ended,
    )
    calls.clear()

    states = query_job_states([running, held, completed, failed, cancelled, array, held_array, UNKNOWN_ID])

    assert calls == ["squeue", "sacct"]  # sacct only for the unknown id and the ended array
    assert states[running].state == "RUNNING" and states[running].source == "squeue"
    assert states[held].state == "PENDING"
    assert states[completed] == JobState(completed, "COMPLETED", states[completed].elapsed_s, "squeue")
    assert states[failed].state == "FAILED"
    assert states[cancelled].state == "CANCELLED"
    assert [states[f"{array}_{task}"].state for task in range(4)] == ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]
    assert states[array].state == "FAILED"
    assert {states[f"{held_array}_{task}"].state for task in (1, 2, 3)} == {"PENDING"}
    assert states[held_array].state == "PENDING"
    assert states[UNKNOWN_ID] == JobState(UNKNOWN_ID, "UNKNOWN", None, "none")


@pytest.mark.slurm
def test_a_single_unknown_id_is_not_an_error(calls: list[str]) -> None:
    # squeue exits 1 ("Invalid job id specified") when its only id is unknown
    assert query_job_states([UNKNOWN_ID]) == {UNKNOWN_ID: JobState(UNKNOWN_ID, "UNKNOWN", None, "none")}
    assert calls == ["squeue", "sacct"]


@pytest.mark.slurm
def test_many_ids_are_chunked_not_queried_one_by_one(submit: Callable[..., str], calls: list[str]) -> None:
    job = submit("--hold", wrap="true")
    ids = [job, *(str(60_000_000 + index) for index in range(2500))]
    calls.clear()
    states = query_job_states(ids)
    assert calls == ["squeue", "squeue", "squeue", "sacct"]
    assert states[job].state == "PENDING"
    assert sum(state.source == "none" for state in states.values()) == 2500


@pytest.mark.slurm
def test_a_cluster_without_accounting(
    submit: Callable[..., str], calls: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job = submit("--hold", wrap="true")
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    conf_path = re.search(r"^SLURM_CONF\s*=\s*(\S+)", config, re.MULTILINE)
    assert conf_path is not None
    text = Path(conf_path.group(1)).read_text()
    no_accounting = re.sub(
        r"^AccountingStorageType=.*$", "AccountingStorageType=accounting_storage/none", text, flags=re.MULTILINE
    )
    (tmp_path / "slurm.conf").write_text(no_accounting)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    calls.clear()

    states = query_job_states([job, UNKNOWN_ID])

    assert calls == ["squeue", "sacct"]
    assert states[job].state == "PENDING"
    assert states[UNKNOWN_ID] == JobState(UNKNOWN_ID, "UNKNOWN", None, "none")


@pytest.mark.slurm
def test_slurmdbd_down(calls: list[str]) -> None:
    if os.geteuid() != 0 or not ONE_NODE_DBD_PID.exists():
        pytest.skip("stops slurmdbd: only on the one-node cluster of slurm/one-node/start.sh, as root")
    pid = int(ONE_NODE_DBD_PID.read_text())
    os.kill(pid, 15)
    try:
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists():
            assert time.monotonic() < deadline, "slurmdbd did not stop"
            time.sleep(0.1)
        assert query_job_states([UNKNOWN_ID])[UNKNOWN_ID] == JobState(UNKNOWN_ID, "UNKNOWN", None, "none")
        assert calls == ["squeue", "sacct"]
    finally:
        subprocess.run([str(START_SH)], capture_output=True, check=True, timeout=120)
    assert subprocess.run(["sacct", "--noheader", "--starttime=now"], capture_output=True).returncode == 0


@pytest.mark.slurm
def test_max_array_size_and_reachability() -> None:
    assert max_array_size() == 1001  # start.sh sets it; it is also SLURM's default
    assert cluster_reachable() is True
