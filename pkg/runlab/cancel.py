"""``runlab cancel``: stop the work on runs that are queued or running, and record that they were cancelled.

SLURM work (the jobs a run's claim names, or the job its started record names) is ended with one
``scancel``; a local holder (the submitting process of a claim on this host) gets SIGTERM. A cancelled run
that has a directory is then marked ``failed`` with the error ``cancelled by <user> at <utc>``: failed, not a
status of its own, because what may follow is what follows any failure (``submit --allow_resume`` continues
it, ``rm`` and ``gc`` remove it), and a record with that error reads the same in every tool that shows runs.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import time
from typing import Callable, Iterable, Sequence

from .errors import RunExistsError, RunlabError
from .ledger import Claim, Ledger
from .holders import Holders, recorded_job
from .record import RunRecord, RunStatus, host_name, set_status, utc_now
from .store import RunStore

__all__ = ["CANCELLED_ERROR_TYPE", "cancel_runs"]

CANCELLED_ERROR_TYPE = "Cancelled"  # the record's error.type of a cancelled run
_EXIT_WAIT_S = 10.0  # how long a SIGTERMed local holder is given to exit before it is reported as still running
_POLL_S = 0.1


def cancel_runs(store: RunStore, run_ids: Sequence[str], *, say: Callable[[str], None]) -> list[str]:
    """Cancel those of ``run_ids`` that are queued or running; returns them. A holder on another host cannot be
    signalled from here: RunlabError (exit 1) naming it, before anything is cancelled."""
    records = {run_id: store.read_record(run_id) for run_id in run_ids}
    holders = Holders.of(store, records)
    live = [run_id for run_id in run_ids if holders.live(run_id, records[run_id]) is not None]
    claims = {run_id: holders.claims.get(run_id) for run_id in live}
    local = {run_id: claim for run_id, claim in claims.items()
             if claim is not None and claim.executor != "slurm" and holders.ledger.is_live(claim, holders.states)}
    remote = [f"{run_id} (pid {claim.pid} on {claim.host})" for run_id, claim in local.items()
              if claim.host != host_name()]
    if remote:
        raise RunlabError(f"cannot signal a process on another host: {', '.join(remote)}",
                          "run the same runlab cancel on that host")
    jobs = _slurm_jobs(live, claims, records, local)
    if jobs:
        _scancel(jobs)
        say(f"scancel {' '.join(jobs)}")
    for pid in sorted({claim.pid for claim in local.values()}):
        os.kill(pid, signal.SIGTERM)
        holding = [run_id for run_id, claim in local.items() if claim.pid == pid]
        say(f"sent SIGTERM to pid {pid} on {host_name()} (the submit running {', '.join(holding)})")
    _await_exit(holders.ledger, local.values(), say)
    note = f"cancelled by {_user()} at {utc_now()}"
    for run_id in live:
        say(f"{run_id}: {_mark_cancelled(store, run_id, claims[run_id], note)}")
    return live


def _slurm_jobs(live: Sequence[str], claims: dict[str, Claim | None], records: dict[str, RunRecord | None],
                local: dict[str, Claim]) -> list[str]:
    """Every SLURM job that works on the ``live`` runs, once, in order."""
    jobs: list[str] = []
    for run_id in live:
        claim = claims[run_id]
        if claim is not None and run_id not in local:
            jobs += claim.job_ids
        job = recorded_job(records[run_id])
        if job is not None:
            jobs.append(job)
    return list(dict.fromkeys(jobs))


def _scancel(jobs: Sequence[str]) -> None:
    try:
        result = subprocess.run(["scancel", *jobs], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise RunlabError("scancel not found: SLURM is not installed here",
                          "run runlab cancel on a SLURM login node") from None
    except subprocess.TimeoutExpired:
        raise RunlabError("scancel gave no answer in 60 s", "check slurmctld (scontrol ping)") from None
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise RunlabError(f"scancel {' '.join(jobs)} failed: {message}", "check the jobs with squeue")


def _await_exit(ledger: Ledger, claims: Iterable[Claim], say: Callable[[str], None]) -> None:
    """Wait until every SIGTERMed local holder is gone, at most ``_EXIT_WAIT_S``; report any that is not."""
    pending = list(claims)
    deadline = time.monotonic() + _EXIT_WAIT_S
    while pending and time.monotonic() < deadline:
        pending = [claim for claim in pending if ledger.is_live(claim, {})]
        time.sleep(_POLL_S if pending else 0)
    for pid in sorted({claim.pid for claim in pending}):
        say(f"pid {pid} is still running {_EXIT_WAIT_S:.0f} s after SIGTERM; kill -KILL {pid} stops it for good")


def _mark_cancelled(store: RunStore, run_id: str, claim: Claim | None, note: str) -> str:
    """Drop the run's claim and record the cancellation in its record, each under the run's lock; returns what
    was done."""
    if claim is not None:
        with store.lock(run_id):
            Ledger(store).release(claim)
    if store.read_record(run_id) is None:
        return "cancelled before it started (no run directory)"

    def cancel(record: RunRecord) -> None:
        set_status(record, RunStatus.FAILED)
        record["error"] = {"type": CANCELLED_ERROR_TYPE, "message": note, "utc": utc_now()}

    try:
        store.update_record(run_id, cancel)
    except RunExistsError:
        return "completed before it was cancelled; kept"
    return f"{note}; marked failed (continue it with runlab submit ... --allow_resume)"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid {os.getuid()}"
