"""Submission claims: who is running or has queued a run, so that racing submitters run it once.

A claim is written under the run's lock by the submitter that wins the race, and names the local
process (host, pid, the pid's start time) or the SLURM jobs doing the work. Later submitters read it
under the same lock: a live claim means "in progress" (wait for it, or depend on its last job), a dead
one is broken. A claim with SLURM jobs lives while any of them is queued or running (the scheduler's
states). Any other claim lives as long as its holder (`liveness`): while this process holds it, a
heartbeat thread sets the claim file's mtime every third of the runs root's lease, so the claim of a
submitter that died on another node is dead after ``lease_s`` without a heartbeat, and one on this node
as soon as its pid is gone or belongs to another process.

On disk: ``.runlab/submissions/<run id>.json``, ``{"schema_version": 2, "run_id", "submission_id",
"executor", "host", "pid", "start_ticks", "job_ids"}``. A file without ``schema_version`` (version 1)
has no ``start_ticks``: its pid is checked for existence only. A file that is not a claim (not JSON,
a missing or mistyped field) is read as no claim: it names no holder that could be alive, and the next
submitter's claim replaces it under the lock.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .atomic import atomic_write_bytes
from .liveness import Heartbeat, Holder, dead_reason
from .record import host_name
from .scheduler import LIVE_STATES, JobState
from .store import RunStore

__all__ = ["CLAIM_SCHEMA_VERSION", "Claim", "Ledger"]

CLAIM_SCHEMA_VERSION = 2
_MAX_CLAIM_BYTES = 1 << 16  # a claim is a few hundred bytes; anything much larger is not one


@dataclass(frozen=True)
class Claim:
    """``job_ids``: the SLURM jobs of the stage in submission order; the last one completes the run.
    ``start_ticks``: the holder pid's `liveness.process_start_time` (None: unknown). ``heartbeat_s``: the
    claim file's mtime when read (Unix time, s), not part of the claim's identity."""

    run_id: str
    submission_id: str
    executor: str
    host: str
    pid: int
    job_ids: tuple[str, ...] = ()
    start_ticks: int | None = None
    heartbeat_s: float = field(default=0.0, compare=False)

    @property
    def holder(self) -> Holder:
        return Holder(self.host, self.pid, self.start_ticks, self.heartbeat_s)

    @property
    def on_scheduler(self) -> bool:
        """Whether the scheduler's job states, not the submitting process, say if the claimed work goes on."""
        return self.executor == "slurm" and bool(self.job_ids)

    def describe(self) -> str:
        if self.on_scheduler:
            return f"SLURM job(s) {','.join(self.job_ids)}"
        return f"pid {self.pid} on {self.host}"


class Ledger:
    """Claims of one runs root, one JSON file per run id under ``.runlab/submissions``; claims live by the
    store's lease (``store.lease_s``), like its locks."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.folder = store.internal_dir / "submissions"
        self.lease_s = store.lease_s
        self._heartbeat = Heartbeat(self.lease_s / 3)

    def read(self, run_id: str) -> Claim | None:
        """The claim on ``run_id``; None when there is none or its file is not a claim."""
        try:
            with open(self._path(run_id), "rb") as handle:
                data = handle.read(_MAX_CLAIM_BYTES + 1)
                heartbeat_s = os.fstat(handle.fileno()).st_mtime
        except (FileNotFoundError, IsADirectoryError):
            return None
        try:
            return _parse_claim(data, run_id, heartbeat_s)
        except (ValueError, KeyError, TypeError):
            return None

    def write(self, claim: Claim) -> None:
        """Write ``claim`` (under the run's lock); a claim of this process without SLURM jobs gets a heartbeat."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(claim.run_id)
        atomic_write_bytes(path, json.dumps(_claim_fields(claim)).encode("utf-8"))
        if not claim.on_scheduler and claim.pid == os.getpid() and claim.host == host_name():
            self._heartbeat.add(path)
        else:
            self._heartbeat.discard(path)

    def release(self, claim: Claim) -> None:
        """Remove ``claim`` if it is still the current one (call under the run's lock)."""
        if self.read(claim.run_id) == claim:
            self.remove(claim.run_id)

    def remove(self, run_id: str) -> None:
        """Remove the claim file of ``run_id``, whatever it holds (call under the run's lock): releasing one's own
        claim, or breaking a dead one."""
        path = self._path(run_id)
        self._heartbeat.discard(path)
        path.unlink(missing_ok=True)

    def all(self) -> list[Claim]:
        """Every readable claim of the runs root, by run id."""
        if not self.folder.is_dir():
            return []
        return [claim for name in sorted(os.listdir(self.folder)) if name.endswith(".json")
                if (claim := self.read(name[: -len(".json")])) is not None]

    def dead_reason(self, claim: Claim, states: Mapping[str, JobState]) -> str | None:
        """Why the work ``claim`` names has stopped (one phrase), or None while it may go on; ``states`` from one
        batched scheduler query (a job missing from it was queued after the query: live)."""
        if not claim.on_scheduler:  # local work, or a SLURM submitter still queuing the jobs
            return dead_reason(claim.holder, self.lease_s)
        if any(job_id not in states or states[job_id].state in LIVE_STATES for job_id in claim.job_ids):
            return None
        return f"SLURM job(s) {','.join(claim.job_ids)} ended"

    def is_live(self, claim: Claim, states: Mapping[str, JobState]) -> bool:
        """Whether the claimed work may still be going on (`dead_reason` is None)."""
        return self.dead_reason(claim, states) is None

    def _path(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.json"


def _claim_fields(claim: Claim) -> dict[str, Any]:
    return {"schema_version": CLAIM_SCHEMA_VERSION, "run_id": claim.run_id, "submission_id": claim.submission_id,
            "executor": claim.executor, "host": claim.host, "pid": claim.pid, "start_ticks": claim.start_ticks,
            "job_ids": list(claim.job_ids)}


def _parse_claim(data: bytes, run_id: str, heartbeat_s: float) -> Claim:
    """The claim in ``data`` (the file of ``run_id``); ValueError, KeyError or TypeError when it is not one."""
    if len(data) > _MAX_CLAIM_BYTES:
        raise ValueError("too large for a claim")
    fields = json.loads(data)
    if not isinstance(fields, dict):
        raise TypeError("not a JSON object")
    if fields.get("schema_version", 1) not in (1, CLAIM_SCHEMA_VERSION):
        raise ValueError(f"unknown schema_version {fields['schema_version']!r}")
    texts = [fields[key] for key in ("run_id", "submission_id", "executor", "host")]
    job_ids, pid, start = fields["job_ids"], fields["pid"], fields.get("start_ticks")
    if (not all(isinstance(text, str) for text in texts) or not isinstance(job_ids, list)
            or not all(isinstance(job, str) for job in job_ids) or not _is_int(pid)
            or not (start is None or _is_int(start)) or fields["run_id"] != run_id):
        raise TypeError("a field has the wrong type, or the claim names another run")
    return Claim(*texts, pid=pid, job_ids=tuple(job_ids), start_ticks=start, heartbeat_s=heartbeat_s)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
