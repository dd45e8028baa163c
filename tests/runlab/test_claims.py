"""Submission claims are as strong as locks: a dead or silent holder's claim is broken, a live one waited on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace

from runlab.atomic import atomic_write_bytes
from runlab.ledger import Claim, Ledger
from runlab.liveness import Heartbeat, Holder, dead_reason, is_alive, process_start_time
from runlab.record import host_name
from runlab.scheduler import JobState
from runlab.status import status_rows
from runlab.store import RunStore
from tests.support.cli import REPO, cli_environment, run_cli
from tests.support.stages import CHAIN

RUN = "RUN_S01_0123456789ab"
LEASE_S = 5.0


def _reaped_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _claim(host: str, pid: int, start_ticks: int | None = None, job_ids: tuple[str, ...] = ()) -> Claim:
    return Claim(run_id=RUN, submission_id="f" * 16, executor="local", host=host, pid=pid, job_ids=job_ids,
                 start_ticks=start_ticks)


def _age(ledger: Ledger, run_id: str, seconds: float) -> None:
    """Make the claim file's last heartbeat ``seconds`` old."""
    then = time.time() - seconds
    os.utime(ledger.folder / f"{run_id}.json", (then, then))


def test_process_start_time_tells_this_process_from_a_gone_one():
    mine = process_start_time(os.getpid())
    assert isinstance(mine, int) and mine > 0
    assert process_start_time(os.getpid()) == mine
    assert process_start_time(_reaped_pid()) is None


def test_holder_on_this_host_is_alive_while_its_pid_runs_with_its_start_time():
    me = Holder.this_process()
    assert is_alive(me, lease_s=LEASE_S, now_s=me.heartbeat_s + 10 * LEASE_S)  # no heartbeat needed on this host
    assert is_alive(Holder(me.host, me.pid, None, 0.0), lease_s=LEASE_S)  # unknown start time: the pid decides
    reused = Holder(me.host, me.pid, me.start_ticks - 1, time.time())
    assert dead_reason(reused, lease_s=LEASE_S) == f"pid {me.pid} on {me.host} is now another process"
    gone = _reaped_pid()
    assert dead_reason(Holder(me.host, gone, None, time.time()), LEASE_S) == f"pid {gone} is gone from {me.host}"


def test_holder_on_another_host_is_alive_within_its_lease():
    now = 1_000_000.0
    assert is_alive(Holder("node-b", 4242, 7, now - LEASE_S + 0.1), LEASE_S, now_s=now)
    assert is_alive(Holder("node-b", 4242, 7, now + 30), LEASE_S, now_s=now)  # its clock runs ahead
    assert dead_reason(Holder("node-b", 4242, 7, now - 3600), LEASE_S, now_s=now) == (
        "no heartbeat from node-b for 3600 s (lease 5 s)")


def test_heartbeat_refreshes_a_file_until_it_is_replaced(tmp_path):
    held, other = tmp_path / "held", tmp_path / "other"
    held.write_bytes(b"mine")
    os.utime(held, (0, 0))
    heartbeat = Heartbeat(interval_s=0.02)
    heartbeat.add(held)
    assert heartbeat.held == (held,)
    deadline = time.monotonic() + 30
    while held.stat().st_mtime == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert held.stat().st_mtime > time.time() - 60

    atomic_write_bytes(held, b"another process's")  # a new inode at the same path
    os.utime(held, (0, 0))
    while heartbeat.held and time.monotonic() < deadline:
        time.sleep(0.01)
    assert heartbeat.held == () and held.stat().st_mtime == 0
    other.write_bytes(b"")
    heartbeat.discard(other)  # discarding what was never added is fine


def test_ledger_breaks_dead_and_silent_claims_and_keeps_live_ones(tmp_path):
    ledger = Ledger(RunStore(tmp_path / "runs", lease_s=LEASE_S))
    me = Holder.this_process()
    cases = {
        "live pid, same start": (_claim(me.host, me.pid, me.start_ticks), None),
        "dead pid": (_claim(me.host, (gone := _reaped_pid())), f"pid {gone} is gone from {me.host}"),
        "reused pid": (_claim(me.host, me.pid, me.start_ticks + 1), f"pid {me.pid} on {me.host} is now another "
                                                                    "process"),
        "other host, fresh heartbeat": (_claim("node-b", 4242), None),
    }
    for name, (claim, reason) in cases.items():
        ledger.write(claim)
        assert ledger.read(RUN) == claim, name
        assert ledger.dead_reason(ledger.read(RUN), {}) == reason, name
    _age(ledger, RUN, LEASE_S + 1)
    assert ledger.dead_reason(ledger.read(RUN), {}).startswith("no heartbeat from node-b for 6 s")

    ledger.write(replace(_claim("node-b", 4242, job_ids=("101", "102")), executor="slurm"))
    _age(ledger, RUN, 3600)  # SLURM jobs live by the scheduler's states, whatever their submitter does
    states = {"101": JobState("101", "COMPLETED", 5, "sacct"), "102": JobState("102", "PENDING", 0, "squeue")}
    assert ledger.is_live(ledger.read(RUN), states)
    ended = {job: JobState(job, "FAILED", 5, "sacct") for job in ("101", "102")}
    assert ledger.dead_reason(ledger.read(RUN), ended) == "SLURM job(s) 101,102 ended"


def test_own_claim_is_refreshed_while_held(tmp_path):
    ledger = Ledger(RunStore(tmp_path / "runs", lease_s=0.06))  # heartbeat every 20 ms
    claim = _claim(host_name(), os.getpid(), process_start_time(os.getpid()))
    ledger.write(claim)
    _age(ledger, RUN, 3600)
    deadline = time.monotonic() + 30
    while ledger.read(RUN).heartbeat_s < time.time() - 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ledger.read(RUN).heartbeat_s > time.time() - 60
    ledger.release(claim)
    assert ledger.read(RUN) is None


def test_legacy_claim_without_start_time_is_read(tmp_path):
    ledger = Ledger(RunStore(tmp_path / "runs", lease_s=LEASE_S))
    ledger.folder.mkdir(parents=True)
    legacy = {"run_id": RUN, "submission_id": "a" * 16, "executor": "local", "host": "node-b", "pid": 4242,
              "job_ids": []}
    (ledger.folder / f"{RUN}.json").write_text(json.dumps(legacy))
    claim = ledger.read(RUN)
    assert claim == Claim(RUN, "a" * 16, "local", "node-b", 4242) and claim.start_ticks is None
    assert ledger.is_live(claim, {})
    _age(ledger, RUN, LEASE_S + 1)  # another host's legacy claim: leased by the file's mtime
    assert not ledger.is_live(ledger.read(RUN), {})


def test_damaged_claim_files_read_as_no_claim_and_status_still_lists_the_root(tmp_path):
    store = RunStore(tmp_path / "runs")
    ledger = Ledger(store)
    ledger.write(Claim("RUN_S01_aaaaaaaaaaaa", "b" * 16, "local", "node-b", 1))
    good = json.loads((ledger.folder / "RUN_S01_aaaaaaaaaaaa.json").read_text())
    damaged = {
        "RUN_S02_000000000001": b"{not json",
        "RUN_S02_000000000002": b"[1, 2]",
        "RUN_S02_000000000003": b"\xff\xfe",
        "RUN_S02_000000000004": json.dumps({**good, "run_id": "RUN_S02_000000000004", "pid": "12"}).encode(),
        "RUN_S02_000000000005": json.dumps({**good, "run_id": "RUN_S02_000000000005", "job_ids": None}).encode(),
        "RUN_S02_000000000006": json.dumps({key: good[key] for key in good if key != "host"}).encode(),
        "RUN_S02_000000000007": json.dumps(good).encode(),  # names another run
        "RUN_S02_000000000008": json.dumps({**good, "schema_version": 99}).encode(),
    }
    for run_id, data in damaged.items():
        (ledger.folder / f"{run_id}.json").write_bytes(data)
        assert ledger.read(run_id) is None, run_id
    (ledger.folder / "RUN_S02_000000000009.json").mkdir()
    assert ledger.read("RUN_S02_000000000009") is None
    assert [claim.run_id for claim in ledger.all()] == ["RUN_S01_aaaaaaaaaaaa"]

    rows = status_rows(store, {"RUN_S02_000000000001": "S02"})
    assert [(row.run_id, row.status) for row in rows] == [("RUN_S02_000000000001", "absent")]
    result = run_cli("status", "--runs_root", str(store.root))
    assert result.returncode == 0, result.stderr
    assert "RUN_S01_aaaaaaaaaaaa" in result.stdout and "RUN_S02_000000000001" not in result.stdout


def test_resume_breaks_the_claim_of_a_silent_submitter_on_another_node(make_study, tmp_path):
    marker = tmp_path / "fail"
    marker.touch()
    stages = {"S01": {"entry": "tests.support.stages:shard", "array": 4, "fan_in": "tests.support.stages:gather"}}
    study = make_study(stages, {"fail_marker": str(marker)})
    assert run_cli(*study.args("submit")).returncode == 1  # task 3 fails: an incomplete run to resume
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    ledger = Ledger(RunStore(study.runs_root))
    ledger.write(Claim(run_dir.name, "c" * 16, "local", "node-b", 4242, start_ticks=99))  # its submitter died there
    _age(ledger, run_dir.name, 3600)
    marker.unlink()

    result = run_cli(*study.args("submit", "--allow_resume"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(f"^S01: broke the claim of pid 4242 on node-b on {run_dir.name}: no heartbeat from node-b for "
                     r"360\d s \(lease 60 s\)$", result.stdout, re.MULTILINE), result.stdout
    assert json.loads((run_dir / "run_record.json").read_text())["stage_status"] == "complete"
    assert ledger.read(run_dir.name) is None  # the resuming submitter released its own claim


def test_a_live_claim_is_waited_on_and_broken_once_its_holder_dies(make_study):
    study = make_study(CHAIN, {"values": [1]})
    planned = run_cli(*study.args("submit", "--dry_run"))
    s01 = next(line.split()[1] for line in planned.stdout.splitlines() if line.startswith("S01 "))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ledger = Ledger(RunStore(study.runs_root))
    ledger.write(Claim(s01, "d" * 16, "local", host_name(), holder.pid, start_ticks=process_start_time(holder.pid)))

    waiter = subprocess.Popen([sys.executable, "-m", "runlab", *study.args("submit")], cwd=REPO,
                              env=cli_environment(PYTHONUNBUFFERED="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = next(line for line in waiter.stdout if line.startswith("S01 "))
        assert "in progress" in first and f"pid {holder.pid} on {host_name()}" in first, first
        assert waiter.poll() is None and not list(study.runs_root.glob("RUN_*"))
    finally:
        holder.kill()
        holder.wait()
    rest, errors = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, errors
    assert f"S01: broke the claim of pid {holder.pid} on {host_name()} on {s01}: pid {holder.pid} is gone" in rest
    assert len(list(study.runs_root.glob("RUN_*"))) == 3
