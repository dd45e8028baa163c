"""Execution backends: where the runs a submitter decided to start are carried out, behind one interface.

The submitter decides every run under its lock (complete, in progress elsewhere, or to start, with a claim
written) and hands the runs to start to its backend, one group at a time: the runs of one stage across a
sweep, upstream groups first. :class:`LocalBackend` runs them in this process (``local``, or submitit's
``debug`` executor) and releases their claims; ``slurm_backend.SlurmBackend`` queues them as jobs and
reports their ids, which the submitter writes into the claims.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Mapping, Protocol, Sequence

from .errors import RunlabError, StageFailedError
from .execute import StageJob
from .ledger import Claim, Ledger
from .manifest import Stage
from .store import RunStore

__all__ = ["Backend", "LocalBackend", "Started", "StartRun", "pending_tasks"]


@dataclass(frozen=True)
class StartRun:
    """One run to start: its stage, the job that runs it, its record (None for a new run), the claim the
    submitter wrote for it, and the SLURM jobs of its upstream runs that are still queued or running."""

    stage: Stage
    job: StageJob
    record: Mapping | None
    claim: Claim
    after: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Started:
    """What a backend did with one run: ran it here (``job_ids`` empty) or queued these jobs, the last completing it;
    ``lines``: more to show under the run's outcome (a dry run's sbatch options)."""

    detail: str
    job_ids: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()


class Backend(Protocol):
    executor: str  # "local" | "debug" | "slurm": recorded in claims and run records

    def start(self, runs: Sequence[StartRun]) -> Iterator[Started]:
        """Start ``runs`` (one group: the same stage, upstream groups already started), yielding one result
        per run in order as each is done."""
        ...


class LocalBackend:
    """Runs each run in this process, array tasks one after the other then the fan-in, and releases its claim."""

    def __init__(self, executor: str, store: RunStore, say: Callable[[str], None]) -> None:
        self.executor = executor
        self.store = store
        self.ledger = Ledger(store)
        self.say = say

    def start(self, runs: Sequence[StartRun]) -> Iterator[Started]:
        for run in runs:
            started = time.monotonic()
            try:
                tasks = pending_tasks(run.stage, run.record)
                if tasks is None:
                    self._call(run.job)
                else:
                    for number, task in enumerate(tasks, start=1):
                        self._call(replace(run.job, task_index=task))
                        self.say(f"{run.stage.tag}: array task {task} done ({number}/{len(tasks)})")
                    self._call(replace(run.job, fan_in=True))
            except Exception as exc:
                kept = self.store.status_of(run.claim.run_id) not in ("missing", "complete")
                if not kept:
                    raise  # nothing left behind: the same command, corrected, starts afresh
                raise _kept_failure(exc, run.claim.run_id) from exc
            finally:
                with self.store.lock(run.claim.run_id):
                    self.ledger.release(run.claim)
            yield Started(f"{time.monotonic() - started:.2f} s here")

    def _call(self, job: StageJob) -> None:
        if self.executor == "debug":
            import submitit

            executor = submitit.DebugExecutor(folder=self.store.internal_dir / "debug" / job.spec.run_id)
            executor.submit(job).result()
        else:
            job()


def _kept_failure(exc: Exception, run_id: str) -> StageFailedError:
    """What a stage raised, as the error that says its run is kept and how to continue it (same exit code)."""
    if isinstance(exc, RunlabError):
        return StageFailedError(exc.message, run_id, exc.exit_code, exc.hint)
    return StageFailedError(f"{type(exc).__name__}: {exc}", run_id, cause_hint="--debug shows the traceback")


def pending_tasks(stage: Stage, record: Mapping | None) -> list[int] | None:
    """Array task indices still to run (all of them for a new run); None for a plain stage."""
    if stage.array is None:
        return None
    done = set(record["array"]["done"]) if record is not None and record.get("array") else set()
    return [task for task in range(stage.array) if task not in done]
