"""Queueing stages on SLURM through submitit: one job, or arrays plus a fan-in, with ``afterok`` chains."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

import submitit

from .backends import Started, StartRun, pending_tasks
from .errors import RunlabError
from .execute import StageJob
from .manifest import Stage
from .profile import Profile
from .scheduler import max_array_size
from .store import RunStore

__all__ = ["SbatchPacer", "SlurmBackend", "array_chunks", "sweep_dependency"]


class SbatchPacer:
    """Spaces ``sbatch`` calls at least ``1 / rate_per_s`` seconds apart, whatever the number of stages."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval_s = 1.0 / rate_per_s
        self._next = 0.0
        self._guard = threading.Lock()

    def wait(self) -> None:
        with self._guard:
            now = time.monotonic()
            if now < self._next:
                time.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval_s


def _queued(job_ids: tuple[str, ...], after: list[str]) -> Started:
    return Started(f"SLURM job(s) {','.join(job_ids)}" + (f" after {','.join(after)}" if after else ""), job_ids)


def sweep_dependency(after: list[list[str]]) -> str | None:
    """The one ``--dependency`` of a job array whose task *k* must wait for the jobs ``after[k]``.

    Equal for every task: ``afterok`` on them. Task *k* waiting for task *k* of the same upstream arrays (a
    stage after a stage, across a sweep), and on jobs common to all: ``aftercorr`` on those arrays and
    ``afterok`` on the rest, so a failed config stops its own downstream only. Anything else: ``afterany``
    on every job; each task then checks its own upstream runs when it starts (exit 3 if one did not complete).
    """
    wanted = [set(jobs) for jobs in after]
    union = sorted(set().union(*wanted), key=_job_order)
    if not union:
        return None
    common = set.intersection(*wanted)
    if all(jobs == common for jobs in wanted):
        return "afterok:" + ":".join(union)
    arrays = {job.partition("_")[0] for job in wanted[0] - common}
    if arrays and all(jobs - common == {f"{array}_{task}" for array in arrays} for task, jobs in enumerate(wanted)):
        correlated = "aftercorr:" + ":".join(sorted(arrays, key=int))
        return correlated + (",afterok:" + ":".join(sorted(common, key=_job_order)) if common else "")
    return "afterany:" + ":".join(union)


def _job_order(job_id: str) -> tuple[int, int]:
    array, _, task = job_id.partition("_")
    return int(array), int(task or -1)


def array_chunks(tasks: list[int], limit: int) -> list[list[int]]:
    """Split task indices into consecutive arrays of at most ``limit`` tasks (the cluster's MaxArraySize)."""
    if limit < 1:
        raise ValueError(f"array size limit must be positive, got {limit}")
    return [tasks[start : start + limit] for start in range(0, len(tasks), limit)]


class SlurmBackend:
    """Queues the jobs of one submission (a ``backends.Backend``); each stage's jobs log under
    ``<runs root>/.runlab/slurm/<run id>`` (a sweep's array under ``<TAG>_sweep_<submission>``)."""

    executor = "slurm"

    def __init__(self, profile: Profile, store: RunStore, study: str) -> None:
        self.profile = profile
        self.store = store
        self.study = study
        self.pacer = SbatchPacer(profile.slurm.sbatch_per_s)
        self._array_limit: int | None = None

    def start(self, runs: Sequence[StartRun]) -> Iterator[Started]:
        """Queue one group: an array stage's runs each as arrays plus a fan-in, one plain run as one job, and the
        plain runs of a stage across a sweep as one job array."""
        if runs[0].stage.array is not None or len(runs) == 1:
            for run in runs:
                yield _queued(self.launch(run.stage, run.job, pending_tasks(run.stage, run.record), run.after), run.after)
            return
        job_ids = self.launch_sweep(runs[0].stage, [run.job for run in runs], [run.after for run in runs])
        for run, job_id in zip(runs, job_ids):
            yield _queued((job_id,), run.after)

    def launch(self, stage: Stage, job: StageJob, tasks: list[int] | None, after: list[str]) -> tuple[str, ...]:
        """Queue ``job`` (or its ``tasks`` as arrays and a fan-in); returns job ids, the completing one last."""
        executor = self._executor(stage, job)
        if tasks is None:
            return (self._submit_one(executor, job, after),)
        array_ids = []
        for chunk in array_chunks(tasks, self.array_limit()):
            self._set_dependency(executor, after)
            self.pacer.wait()
            with executor.batch():
                submitted = [executor.submit(replace(job, task_index=task)) for task in chunk]
            array_ids.append(submitted[0].job_id.split("_")[0])
        return (*array_ids, self._submit_one(executor, replace(job, fan_in=True), [*after, *array_ids]))

    def launch_sweep(self, stage: Stage, jobs: list[StageJob], after: list[list[str]]) -> list[str]:
        """Queue the runs of one stage across a sweep as job arrays of at most ``array_limit()`` tasks (task *k*
        runs ``jobs[k]``, whose upstream jobs are ``after[k]``); returns each run's job id ("<array>_<k>")."""
        executor = self._executor(stage, jobs[0], folder=f"{stage.tag}_sweep_{jobs[0].spec.submission_id}")
        limit = self.array_limit()
        job_ids: list[str] = []
        for start in range(0, len(jobs), limit):
            self._set_dependency_spec(executor, sweep_dependency(after[start : start + limit]))
            self.pacer.wait()
            with executor.batch():
                submitted = [executor.submit(job) for job in jobs[start : start + limit]]
            job_ids.extend(job.job_id for job in submitted)
        return job_ids

    def array_limit(self) -> int:
        """Tasks per array: the profile's cap or the cluster's MaxArraySize, whichever is smaller."""
        if self._array_limit is None:
            cluster = max_array_size()
            wanted = self.profile.slurm.max_array_size
            self._array_limit = min(cluster, wanted) if wanted else cluster
        return self._array_limit

    def _submit_one(self, executor: submitit.SlurmExecutor, job: StageJob, after: list[str]) -> str:
        self._set_dependency(executor, after)
        self.pacer.wait()
        return executor.submit(job).job_id

    def _set_dependency(self, executor: submitit.SlurmExecutor, after: list[str]) -> None:
        self._set_dependency_spec(executor, "afterok:" + ":".join(after) if after else None)

    def _set_dependency_spec(self, executor: submitit.SlurmExecutor, dependency: str | None) -> None:
        extra: dict[str, object] = {"requeue": True}
        if dependency:  # a failed upstream cancels this job instead of leaving it pending forever
            extra.update(dependency=dependency, kill_on_invalid_dep="yes")
        executor.update_parameters(additional_parameters=extra)

    def _executor(self, stage: Stage, job: StageJob, folder: str | None = None) -> submitit.SlurmExecutor:
        settings = self.profile.slurm
        folder = self.store.internal_dir / "slurm" / (folder or job.spec.run_id) / "%j"
        python = None
        if self.profile.container is not None:
            python = self.profile.container.python_command(self.store.root, stage.resources.gpus)
        try:
            executor = submitit.SlurmExecutor(folder=Path(folder), python=python)
        except RuntimeError as exc:  # submitit: no sbatch on this machine
            raise RunlabError(f"cannot reach SLURM: {exc}", "use --profile local, or run where sbatch works") from exc
        resources = stage.resources
        parameters = {
            "job_name": f"{self.study}.{stage.tag}",
            "time": resources.time_min,
            "cpus_per_task": resources.cpus,
            "mem": f"{int(resources.mem_gb * 1024)}M",
            "signal_delay_s": settings.signal_delay_s,
            "array_parallelism": settings.array_parallelism,
            "setup": [f"export PYTHONHASHSEED={job.spec.seed}", *settings.setup],
        }
        if resources.gpus:
            parameters["gpus_per_node"] = resources.gpus
        for name in ("partition", "account", "qos", "constraint"):
            if getattr(settings, name):
                parameters[name] = getattr(settings, name)
        executor.update_parameters(**parameters)
        return executor
