"""Who may still be working on a run: its submission claim, the attempts executing it, the SLURM job its record
names. A started run with none of them alive is dead: its holder was killed, its node lost, its job ended.

Each attempt (``execute.StageJob``) keeps ``.alive/<NNN>-<part>.json`` in its run while it executes: its host,
pid and pid start time, and a heartbeat in the file's mtime (``liveness.Heartbeat``), so a run executed by hand
(``runlab exec-stage``) or on another node is judged like a claim (``liveness.dead_reason``).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from .atomic import atomic_write_bytes
from .layout import ALIVE_DIR, assert_no_symlinks
from .ledger import Claim, Ledger
from .liveness import Heartbeat, Holder, dead_reason
from .lock import DEFAULT_LEASE_S
from .record import RunRecord
from .scheduler import LIVE_STATES, JobState, SchedulerUnavailable, query_job_states
from .store import RunStore

__all__ = ["Holders", "attempt_holders", "holding_attempt", "recorded_job", "write_attempt_mark"]


@contextmanager
def holding_attempt(run_dir: Path, name: str) -> Iterator[None]:
    """Mark this process as executing ``name`` (``"003-task-0002"``) of the run at ``run_dir`` for the body; the
    marks that killed attempts left behind go first."""
    path = write_attempt_mark(run_dir, name)
    heartbeat = Heartbeat(DEFAULT_LEASE_S / 3)
    heartbeat.add(path)
    try:
        yield
    finally:
        heartbeat.discard(path)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass  # another attempt of the run still holds it, or the run was discarded


def write_attempt_mark(run_dir: Path, name: str) -> Path:
    """Write the mark of this process executing ``name`` of the run (after removing the marks of dead attempts);
    ``holding_attempt`` keeps it fresh and removes it."""
    path = Path(run_dir) / ALIVE_DIR / f"{name}.json"
    assert_no_symlinks(run_dir, f"{ALIVE_DIR}/{name}.json")
    path.parent.mkdir(exist_ok=True)
    for stale, holder in attempt_holders(run_dir).items():
        if dead_reason(holder, DEFAULT_LEASE_S) is not None:
            (path.parent / f"{stale}.json").unlink(missing_ok=True)
    holder = Holder.this_process()
    atomic_write_bytes(path, json.dumps({"host": holder.host, "pid": holder.pid,
                                         "start_ticks": holder.start_ticks}).encode("utf-8"))
    return path


def attempt_holders(run_dir: Path) -> dict[str, Holder]:
    """The attempts marked as executing the run at ``run_dir``, by name (unreadable marks are left out)."""
    found = {}
    folder = Path(run_dir) / ALIVE_DIR
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    for entry in entries:
        try:
            data = json.loads(Path(entry.path).read_bytes())
            found[entry.name.removesuffix(".json")] = Holder(str(data["host"]), int(data["pid"]), data["start_ticks"],
                                                             entry.stat(follow_symlinks=False).st_mtime)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


@dataclass(frozen=True)
class Holders:
    """Who may still be working on the runs of a runs root, from their claims, attempt marks and records and one
    batched scheduler query."""

    store: RunStore
    ledger: Ledger
    claims: Mapping[str, Claim]
    states: Mapping[str, JobState]
    scheduler_unknown: bool = False  # SLURM is not installed here: every SLURM job counts as live

    @classmethod
    def of(cls, store: RunStore, records: Mapping[str, RunRecord | None]) -> "Holders":
        """The holders of ``records`` (run id -> record, None for a claim without a run directory). Where SLURM's
        commands are missing (a cluster's runs root read on a laptop), the jobs' states are unknown and the work
        they name is taken as going on: nothing is removed or called dead on a guess."""
        ledger = Ledger(store)
        claims = {run_id: claim for run_id in records if (claim := ledger.read(run_id)) is not None}
        job_ids = [job for claim in claims.values() if claim.executor == "slurm" for job in claim.job_ids]
        job_ids += [job for record in records.values() if (job := recorded_job(record)) is not None]
        try:
            return cls(store, ledger, claims, query_job_states(job_ids) if job_ids else {})
        except SchedulerUnavailable:
            return cls(store, ledger, claims, {}, scheduler_unknown=True)

    def live(self, run_id: str, record: RunRecord | None) -> str | None:
        """What still works on ``run_id`` (``"pid 12 on node-a"``, ``"SLURM job(s) 34"``), or None when nothing does."""
        claim = self.claims.get(run_id)
        if claim is not None and self.ledger.is_live(claim, self.states):
            return claim.describe()
        if record is not None and record["stage_status"] == "started":
            for name, holder in attempt_holders(self.store.run_dir(run_id)).items():
                if dead_reason(holder, DEFAULT_LEASE_S) is None:
                    return f"pid {holder.pid} on {holder.host} (attempt {name})"
        job = recorded_job(record)
        if job is not None and (self.scheduler_unknown or job in self.states and self.states[job].state in LIVE_STATES):
            return f"SLURM job {job}" + (" (state unknown here: no SLURM)" if self.scheduler_unknown else "")
        return None


def recorded_job(record: RunRecord | None) -> str | None:
    """The SLURM job (or array) that a started run's record names as running it, else None."""
    if record is None or record["stage_status"] != "started" or record["executor"] != "slurm":
        return None
    return record["slurm"]["array_job_id"] or record["slurm"]["job_id"]
