"""Queueing stages on SLURM through submitit: one job, or arrays plus a fan-in, with ``afterok`` chains.

A dry run goes through the same code with nothing submitted: each job gets a name from its stage tag instead of
a job id (``S01``, ``S01.fanin``, tasks ``S02_3``), so the dependencies it prints name stages.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Iterator, Sequence

import submitit

from .backends import Started, StartRun, pending_tasks
from .errors import RunlabError
from .execute import StageJob
from .manifest import Stage
from .profile import Profile
from .sbatch import sbatch_options, sbatch_parameters, with_dependency
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
        correlated = "aftercorr:" + ":".join(sorted(arrays, key=lambda array: (len(array), array)))
        return correlated + (",afterok:" + ":".join(sorted(common, key=_job_order)) if common else "")
    return "afterany:" + ":".join(union)


def _job_order(job_id: str) -> tuple[int, str, int]:
    """Numeric order of SLURM ids ("9" before "12", "7_2" before "7_10"); a dry run's stage names sort by name."""
    array, _, task = job_id.partition("_")
    return len(array), array, int(task or -1)


def array_chunks(tasks: list[int], limit: int) -> list[list[int]]:
    """Split task indices into consecutive arrays of at most ``limit`` tasks (the cluster's MaxArraySize)."""
    if limit < 1:
        raise ValueError(f"array size limit must be positive, got {limit}")
    return [tasks[start : start + limit] for start in range(0, len(tasks), limit)]


class SlurmBackend:
    """Queues the jobs of one submission (a ``backends.Backend``); each stage's jobs log under
    ``<runs root>/.runlab/slurm/<run id>`` (a sweep's array under ``<TAG>_sweep_<submission>``). With
    ``dry_run`` nothing is submitted: each run's ``Started.lines`` give its jobs' sbatch options and dependencies."""

    executor = "slurm"

    def __init__(self, profile: Profile, store: RunStore, study: str, dry_run: bool = False) -> None:
        self.profile = profile
        self.store = store
        self.study = study
        self.dry_run = dry_run
        self.pacer = SbatchPacer(profile.slurm.sbatch_per_s)
        self._array_limit: int | None = None
        self._dry_names: set[str] = set()
        self._dry_lines: list[str] = []

    def start(self, runs: Sequence[StartRun]) -> Iterator[Started]:
        """Queue one group: an array stage's runs each as arrays plus a fan-in, one plain run as one job, and the
        plain runs of a stage across a sweep as one job array."""
        if runs[0].stage.array is not None or len(runs) == 1:
            for run in runs:
                job_ids = self.launch(run.stage, run.job, pending_tasks(run.stage, run.record), run.after)
                yield self._started(job_ids, run.after)
            return
        job_ids = self.launch_sweep(runs[0].stage, [run.job for run in runs], [run.after for run in runs])
        for run, job_id in zip(runs, job_ids):
            yield self._started((job_id,), run.after)

    def launch(self, stage: Stage, job: StageJob, tasks: list[int] | None, after: list[str]) -> tuple[str, ...]:
        """Queue ``job`` (or its ``tasks`` as arrays and a fan-in); returns job ids, the completing one last."""
        if tasks is None:
            return tuple(self._queue(stage, job.spec.run_id, [job], _afterok(after)))
        array_ids = []
        for chunk in array_chunks(tasks, self.array_limit()):
            submitted = self._queue(stage, job.spec.run_id, [replace(job, task_index=task) for task in chunk],
                                    _afterok(after))
            array_ids.append(submitted[0].split("_")[0])
        fan_in = self._queue(stage, job.spec.run_id, [replace(job, fan_in=True)], _afterok([*after, *array_ids]))
        return (*array_ids, *fan_in)

    def launch_sweep(self, stage: Stage, jobs: list[StageJob], after: list[list[str]]) -> list[str]:
        """Queue the runs of one stage across a sweep as job arrays of at most ``array_limit()`` tasks (task *k*
        runs ``jobs[k]``, whose upstream jobs are ``after[k]``); returns each run's job id ("<array>_<k>")."""
        folder = f"{stage.tag}_sweep_{jobs[0].spec.submission_id}"
        limit = self.array_limit()
        job_ids: list[str] = []
        for start in range(0, len(jobs), limit):
            job_ids.extend(self._queue(stage, folder, jobs[start : start + limit],
                                       sweep_dependency(after[start : start + limit])))
        return job_ids

    def array_limit(self) -> int:
        """Tasks per array: the profile's cap or the cluster's MaxArraySize, whichever is smaller (a dry run asks
        no cluster: the profile's cap, if any)."""
        if self._array_limit is None:
            wanted = self.profile.slurm.max_array_size
            if self.dry_run:
                self._array_limit = wanted or 2**31
            else:
                cluster = max_array_size()
                self._array_limit = min(cluster, wanted) if wanted else cluster
        return self._array_limit

    def parameters(self, stage: Stage, job: StageJob) -> dict[str, Any]:
        """The submitit parameters of ``stage``'s jobs (see ``sbatch.sbatch_parameters``)."""
        return sbatch_parameters(f"{self.study}.{stage.tag}", stage.resources, self.profile.slurm,
                                 setup=[f"export PYTHONHASHSEED={job.spec.seed}"])

    def _queue(self, stage: Stage, folder: str, jobs: list[StageJob], dependency: str | None) -> list[str]:
        """Submit ``jobs`` (two or more: one job array) after ``dependency``; their job ids, in order."""
        parameters = with_dependency(self.parameters(stage, jobs[0]), dependency)
        if self.dry_run:
            return self._describe(stage, jobs, parameters)
        executor = self.make_executor(stage, folder, parameters)
        self.pacer.wait()
        with executor.batch():
            submitted = [executor.submit(job) for job in jobs]
        return [job.job_id for job in submitted]

    def _describe(self, stage: Stage, jobs: list[StageJob], parameters: dict[str, Any]) -> list[str]:
        """A dry run's stand-in for submitting: a unique name from the stage tag, and its sbatch line kept."""
        base = f"{stage.tag}.fanin" if jobs[0].fan_in else stage.tag
        name = base
        number = 1
        while name in self._dry_names:
            number += 1
            name = f"{base}.{number}"
        self._dry_names.add(name)
        tasks = len(jobs) if len(jobs) > 1 else None
        self._dry_lines.append(f"  {name}: sbatch {' '.join(sbatch_options(parameters, tasks))}")
        return [name] if tasks is None else [f"{name}_{task}" for task in range(tasks)]

    def _started(self, job_ids: tuple[str, ...], after: list[str]) -> Started:
        if not self.dry_run:
            return _queued(job_ids, after)
        lines, self._dry_lines = tuple(self._dry_lines), []
        return Started(f"dry run, would queue {','.join(job_ids)}", job_ids, lines)

    def make_executor(self, stage: Stage, folder: str, parameters: dict[str, Any]) -> submitit.SlurmExecutor:
        """A submitit executor for ``stage``'s jobs, logging under ``.runlab/slurm/<folder>``, with ``parameters``
        set; its Python runs in the profile's container, if any."""
        python = None
        if self.profile.container is not None:
            python = self.profile.container.python_command(self.store.root, stage.resources.gpus)
        try:
            executor = submitit.SlurmExecutor(folder=self.store.internal_dir / "slurm" / folder / "%j", python=python)
        except RuntimeError as exc:  # submitit: no sbatch on this machine
            raise RunlabError(f"cannot reach SLURM: {exc}", "use --profile local, or run where sbatch works") from exc
        executor.update_parameters(**parameters)
        return executor


def _afterok(after: list[str]) -> str | None:
    return "afterok:" + ":".join(after) if after else None
