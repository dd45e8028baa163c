"""Running one job: a whole stage, one array task of it, or the fan-in that completes an array run.

The same :class:`StageJob` runs in-process for the local executor and inside a SLURM job through
submitit. It is checkpointable (submitit looks for a ``checkpoint`` method): when SLURM signals a
time limit or preemption, submitit requeues the same job, which reopens its run (same submission
id) and the stage resumes from ``run.load_checkpoint()``.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from .capture import captured_output
from .determinism import DeterminismSettings, seed_everything, watch_nondeterminism
from .errors import MissingUpstreamError, RunlabError, SchemaError
from .eventlog import append_event, attempt_log_paths, part_name, runtime_log_files
from .gpu import require_cuda_devices
from .holders import holding_attempt
from .layout import assert_no_symlinks
from .manifest import import_callable
from .record import RunRecord, RunStatus, parse_utc, set_status, utc_now
from .store import ExecutionContext, RunSpec, RunStore, sha256_file

if TYPE_CHECKING:
    from submitit.helpers import DelayedSubmission

    from .run import Run

__all__ = ["StageJob", "complete_run"]


@dataclass
class StageJob:
    """One unit of work: ``task_index`` None runs the stage (or, with ``fan_in``, completes its array).

    ``gpus`` is what the stage's manifest resources ask for: on SLURM the job checks that it sees that
    many CUDA devices before it opens the run, and fails (exit 2) otherwise.
    """

    spec: RunSpec
    entry: str
    fan_in_entry: str | None
    runs_root: str
    executor: str
    allow_resume: bool
    determinism: Mapping[str, Any]
    python_path: tuple[str, ...] = ()
    gpus: int = 0
    task_index: int | None = None
    fan_in: bool = False
    chain_index: int | None = None
    chain_previous: str | None = None

    def __call__(self) -> str:
        from .run import Run  # stage-time imports (numpy, pyarrow) stay out of the submitter's start-up

        if self.executor == "slurm" and self.gpus > 0:  # local runs may use the CPU (--device cpu)
            require_cuda_devices(self.gpus, f"stage {self.spec.stage_tag} ({self.spec.run_id})")
        for folder in reversed(self.python_path):
            if folder not in sys.path:
                sys.path.insert(0, folder)
        store = RunStore(self.runs_root)
        context = ExecutionContext.from_environment(self.executor)
        if self.fan_in:
            return self._complete_array(store, context)
        function = import_callable(self.entry)  # before the run exists: a bad entry writes nothing
        for upstream in self.spec.upstream_run_ids.values():
            store.complete_record(upstream, needed_by=self.spec.run_id)  # exit 3 before anything is written
        record = store.open_run(self.spec, context, allow_resume=self.allow_resume)
        if record is None:
            return f"{self.spec.run_id} is already complete"
        if self.task_index is not None and self.task_index in record["array"]["done"]:
            return f"{self.spec.run_id} task {self.task_index} is already done"
        part = part_name(self.task_index)
        run = Run(store, record, self.spec.stage_config(), self.task_index, part=part, **self._chain())
        with _attempt(store, record, part, context):
            determinism = self._run_stage(store, run, function)
        if self.task_index is None:
            complete_run(store, self.spec.run_id, determinism)
            return f"{self.spec.run_id} complete"
        store.update_record(self.spec.run_id, lambda rec: _mark_task_done(rec, self.task_index, determinism))
        append_event(run.dir, "task_done", part=part)
        return f"{self.spec.run_id} task {self.task_index} done"

    def _chain(self) -> dict[str, Any]:
        return {"chain_index": self.chain_index, "chain_previous": self.chain_previous}

    def _run_stage(self, store: RunStore, run: "Run", function: Callable[..., Any]) -> dict[str, Any]:
        try:
            determinism = seed_everything(DeterminismSettings.from_config(self.determinism))
            with watch_nondeterminism(determinism):
                if self.task_index is None:
                    function(run)
                else:
                    function(run, self.task_index)
        except Exception as exc:
            if not store.discard_unstarted_run(run.run_id):  # a run with nothing in it leaves nothing behind
                store.update_record(run.run_id, lambda rec: _mark_failed(rec, exc))
                append_event(run.dir, "failed", part=run.part, error=_error_line(exc))
            raise
        return determinism

    def _complete_array(self, store: RunStore, context: ExecutionContext) -> str:
        record = store.read_record(self.spec.run_id)
        if record is None:
            raise MissingUpstreamError(f"array run {self.spec.run_id} does not exist", "submit the stage first")
        if record["stage_status"] == "complete":
            return f"{self.spec.run_id} is already complete"
        missing = sorted(set(range(record["array"]["size"])) - set(record["array"]["done"]))
        if missing:
            raise MissingUpstreamError(
                f"array run {self.spec.run_id} lacks tasks {_ranges(missing)}",
                "resubmit with --allow_resume to run the missing tasks",
            )
        fan_in = import_callable(self.fan_in_entry) if self.fan_in_entry is not None else None
        # Every task is done: completing the run is what is left, whoever submitted the tasks.
        record = store.open_run(self.spec, context, allow_resume=True)
        if record is None:
            return f"{self.spec.run_id} is already complete"
        determinism = record["determinism"]
        if fan_in is not None:
            from .run import Run

            run = Run(store, record, self.spec.stage_config(), part=part_name(None, fan_in=True), **self._chain())
            with _attempt(store, record, run.part, context):
                determinism = self._run_stage(store, run, fan_in)
        complete_run(store, self.spec.run_id, determinism)
        return f"{self.spec.run_id} complete ({record['array']['size']} tasks)"

    def checkpoint(self, *args: Any, **kwargs: Any) -> "DelayedSubmission":
        """Requeue this same job; the stage resumes from the run's checkpoint."""
        from submitit.helpers import DelayedSubmission

        part = part_name(self.task_index, self.fan_in)
        append_event(RunStore(self.runs_root).run_dir(self.spec.run_id), "requeued", part=part,
                     slurm_job_id=os.environ.get("SLURM_JOB_ID"))
        return DelayedSubmission(self, *args, **kwargs)


@contextmanager
def _attempt(store: RunStore, record: RunRecord, part: str, context: ExecutionContext) -> Iterator[None]:
    """One attempt of ``part``: its start in the event log, and its stdout and stderr kept in the run."""
    run_dir = store.run_dir(record["run_id"])
    attempt = record["timings"]["attempts"]
    append_event(run_dir, "attempt_started", attempt=attempt, part=part, host=context.host, pid=os.getpid(),
                 executor=context.executor, slurm_job_id=context.slurm_job_id)
    outputs = attempt_log_paths(run_dir, attempt, part)
    for path in outputs:
        assert_no_symlinks(run_dir, path.relative_to(run_dir).as_posix())
    with holding_attempt(run_dir, f"{attempt:03d}-{part}"), captured_output(*outputs):
        yield


def complete_run(store: RunStore, run_id: str, determinism: Mapping[str, Any]) -> None:
    """Mark a run complete after checking that every registered artifact is on disk at its size."""
    run_dir = store.run_dir(run_id)

    def finish(record: RunRecord) -> None:
        for entry in record["artifact_index"]:
            path = run_dir / entry["relative_path"]
            if not path.is_file() or path.stat().st_size != entry["bytes"]:
                raise SchemaError(f"artifact {entry['relative_path']} of {run_id} is missing or truncated",
                                  "the run directory was changed while running")
        append_event(run_dir, "complete")
        _index_runtime_logs(run_dir, record)
        now = utc_now()
        record["determinism"] = dict(determinism)
        set_status(record, RunStatus.COMPLETE)
        record["error"] = None
        record["timings"]["completed_utc"] = now
        elapsed = parse_utc(now) - parse_utc(record["timings"]["started_utc"])
        record["timings"]["elapsed_s"] = round(max(0.0, elapsed.total_seconds()), 6)

    store.update_record(run_id, finish)


def _index_runtime_logs(run_dir: Path, record: RunRecord) -> None:
    """Add the run's event log and attempt output, final now, to its artifact index."""
    logs = runtime_log_files(run_dir)
    kept = [entry for entry in record["artifact_index"] if entry["relative_path"] not in logs]
    now = utc_now()
    for relative in logs:
        path = run_dir / relative
        kept.append({"relative_path": relative, "sha256": sha256_file(path), "bytes": path.stat().st_size,
                     "created_utc": now})
    record["artifact_index"] = sorted(kept, key=lambda entry: entry["relative_path"])


def _mark_task_done(record: RunRecord, task_index: int, determinism: Mapping[str, Any]) -> None:
    done = set(record["array"]["done"]) | {task_index}
    record["array"]["done"] = sorted(done)
    merged = dict(record["determinism"]) or dict(determinism)
    kernels = set(merged.get("unavailable_deterministic_kernels", [])) | set(
        determinism.get("unavailable_deterministic_kernels", [])
    )
    merged["unavailable_deterministic_kernels"] = sorted(kernels)
    record["determinism"] = merged


def _error_line(exc: Exception) -> str:
    return str(exc) if isinstance(exc, RunlabError) else f"{type(exc).__name__}: {exc}"


def _mark_failed(record: RunRecord, exc: Exception) -> None:
    set_status(record, RunStatus.FAILED)
    record["error"] = {"type": type(exc).__name__, "message": _error_line(exc)[:4000], "utc": utc_now()}


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    spans: list[str] = []
    start = previous = indices[0]
    for index in indices[1:] + [None]:  # type: ignore[list-item]
        if index is not None and index == previous + 1:
            previous = index
            continue
        spans.append(str(start) if start == previous else f"{start}-{previous}")
        if index is not None:
            start = previous = index
    return ",".join(spans)

