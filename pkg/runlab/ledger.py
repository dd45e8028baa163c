"""Submission claims: who is running or has queued a run, so that racing submitters run it once.

A claim is written under the run's lock by the submitter that wins the race, and names the local
process or the SLURM jobs doing the work. Later submitters read it under the same lock: a live claim
means "in progress" (wait for it, or depend on its last job), a dead one is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Mapping

from .atomic import atomic_write_bytes
from .record import host_name
from .scheduler import LIVE_STATES, JobState
from .store import RunStore

__all__ = ["Claim", "Ledger"]


@dataclass(frozen=True)
class Claim:
    """``job_ids``: the SLURM jobs of the stage in submission order; the last one completes the run."""

    run_id: str
    submission_id: str
    executor: str
    host: str
    pid: int
    job_ids: tuple[str, ...] = ()

    def is_live(self, states: Mapping[str, JobState]) -> bool:
        """Whether the claimed work may still be going on; ``states`` from one batched scheduler query."""
        if self.executor != "slurm" or not self.job_ids:  # a SLURM claim without jobs: its submitter is queuing them
            return self.host != host_name() or _process_alive(self.pid)
        if any(job_id not in states for job_id in self.job_ids):
            return True  # queued after the query was made
        return any(states[job_id].state in LIVE_STATES for job_id in self.job_ids)

    def describe(self) -> str:
        if self.executor == "slurm":
            return f"SLURM job(s) {','.join(self.job_ids)}"
        return f"pid {self.pid} on {self.host}"


class Ledger:
    """Claims of one runs root, one JSON file per run id under ``.runlab/submissions``."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.folder = store.internal_dir / "submissions"

    def read(self, run_id: str) -> Claim | None:
        try:
            data = json.loads((self.folder / f"{run_id}.json").read_bytes())
        except FileNotFoundError:
            return None
        return Claim(**{**data, "job_ids": tuple(data["job_ids"])})

    def write(self, claim: Claim) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.folder / f"{claim.run_id}.json", json.dumps(asdict(claim)).encode("utf-8"))

    def release(self, claim: Claim) -> None:
        """Remove ``claim`` if it is still the current one (call under the run's lock)."""
        if self.read(claim.run_id) == claim:
            (self.folder / f"{claim.run_id}.json").unlink()

    def all(self) -> list[Claim]:
        if not self.folder.is_dir():
            return []
        return [claim for name in sorted(os.listdir(self.folder)) if name.endswith(".json")
                if (claim := self.read(name[: -len(".json")])) is not None]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
