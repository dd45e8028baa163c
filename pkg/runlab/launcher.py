"""``runlab submit``: turn a manifest and a config into run ids, skip what is done, run or queue the rest.

For each stage, in dependency order and under that run's lock, the submitter decides:

- complete and its artifacts verify: skip it and say so;
- claimed by live work (another submitter's process or SLURM jobs): leave it; downstream stages wait
  for it (local) or depend on its last job (SLURM);
- otherwise (new, or incomplete with ``--allow_resume``): claim it and run it (local) or queue it (SLURM:
  ``afterok`` dependencies on upstream jobs, an ``--array`` for fan-out and a fan-in job that completes
  the run). No driver process stays behind to poll on SLURM.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Mapping

from .config import ResolvedConfig
from .determinism import DeterminismSettings
from .errors import RunExistsError, RunlabError, SchemaError
from .execute import StageJob
from .ledger import Claim, Ledger
from .manifest import Manifest, Stage, import_callable
from .profile import Profile
from .record import host_name
from .run_id import content_hash_run_id
from .scheduler import JobState, query_job_states
from .store import RunSpec, RunStore
from .verify import verify_run

if TYPE_CHECKING:
    from .slurm_backend import SlurmBackend

__all__ = ["StageOutcome", "SubmitOptions", "Submitter", "build_stage_job", "pending_tasks"]

_WAIT_POLL_S = 0.2
_WAIT_REPORT_S = 30.0


@dataclass(frozen=True)
class SubmitOptions:
    allow_resume: bool = False
    dry_run: bool = False
    run_id_mode: str = "content_hash"
    targets: tuple[str, ...] = ()  # stages to bring about (with their upstream); empty: all


@dataclass(frozen=True)
class StageOutcome:
    """What one submit did for one stage: ``action`` is complete, ran, queued, in progress or would run."""

    tag: str
    run_id: str
    action: str
    detail: str = ""
    job_ids: tuple[str, ...] = field(default=())


def build_stage_job(manifest: Manifest, config: ResolvedConfig, stage: Stage, run_id: str,
                    upstream_run_ids: Mapping[str, str], *, runs_root: str, executor: str,
                    submission_id: str, allow_resume: bool, run_id_mode: str = "content_hash") -> StageJob:
    """The job that runs ``stage`` of ``config`` as ``run_id`` (array tasks and fan-in are ``replace``s of it)."""
    determinism = config.data.get("determinism") or {}
    spec = RunSpec(
        run_id=run_id, stage_tag=stage.tag, study=manifest.study, run_id_mode=run_id_mode, config=config,
        upstream_run_ids=dict(upstream_run_ids), submission_id=submission_id, array_size=stage.array,
        seed=DeterminismSettings.from_config(determinism).seed, verifier=stage.verify,
    )
    return StageJob(spec=spec, entry=stage.entry, fan_in_entry=stage.fan_in, runs_root=runs_root,
                    executor=executor, allow_resume=allow_resume, determinism=determinism,
                    python_path=tuple(str(folder) for folder in manifest.python_path), gpus=stage.resources.gpus,
                    chain_index=stage.chain_index, chain_previous=stage.chain_previous)


class Submitter:
    """One ``runlab submit`` of one config through one profile."""

    def __init__(self, manifest: Manifest, config: ResolvedConfig, profile: Profile, store: RunStore,
                 options: SubmitOptions, say: Callable[[str], None] = print) -> None:
        DeterminismSettings.from_config(config.data.get("determinism"))  # bad settings fail before any work
        self.manifest = manifest
        self.config = config
        self.profile = profile
        self.store = store
        self.options = options
        self.say = say
        self.ledger = Ledger(store)
        self.submission_id = secrets.token_hex(8)
        self.slurm: SlurmBackend | None = None
        if profile.executor == "slurm":
            from .slurm_backend import SlurmBackend  # submitit loads only for SLURM profiles

            self.slurm = SlurmBackend(profile, store, manifest.study)
        self.tags = manifest.closure(list(options.targets)) if options.targets else manifest.order()
        # SLURM and dry runs import every entry up front, so a typo fails before anything is queued;
        # local runs import a stage's entry only when they are about to run it, so that racing
        # submitters that only wait for a winner do not pay for the study's imports.
        if self.slurm is not None or options.dry_run:
            _check_entries(manifest, self.tags)
        self.run_ids = self._run_ids()
        self._completing_job: dict[str, str] = {}  # tag -> SLURM job whose success completes its run
        self._foreign: dict[str, Claim] = {}  # tag -> live claim of another submitter

    def submit(self) -> list[StageOutcome]:
        """Decide and act for every stage; raises RunExistsError before acting if any run blocks."""
        states = self._claimed_job_states()
        self._refuse_existing_runs(states)
        outcomes = []
        for tag in self.tags:
            outcome = self._stage(self.manifest.stages[tag], states)
            if outcome.action == "in progress" and self.slurm is None:
                self.say(_describe(outcome))
                self._await(tag, self._foreign[tag])
                outcome = replace(outcome, action="complete", detail=f"completed by {outcome.detail}")
            self.say(_describe(outcome))
            outcomes.append(outcome)
        return outcomes

    # -- planning ------------------------------------------------------------------------------

    def _run_ids(self) -> dict[str, str]:
        if self.options.run_id_mode == "content_hash":
            return {tag: content_hash_run_id(self.config.yaml_bytes, tag) for tag in self.tags}
        if self.options.dry_run:
            return {tag: f"RUN_{tag}_00000000T000000Z_000" for tag in self.tags}
        return {tag: self._reserve_timestamp_id(tag) for tag in self.tags}

    def _reserve_timestamp_id(self, tag: str) -> str:
        with self.store.allocation_lock(tag):
            run_id = self.store.allocate_timestamp_id(tag, lambda candidate: self.ledger.read(candidate) is not None)
            self.ledger.write(self._claim(run_id))
        return run_id

    def _claimed_job_states(self) -> dict[str, JobState]:
        if self.slurm is None:
            return {}
        job_ids = [job_id for run_id in self.run_ids.values() if (claim := self.ledger.read(run_id))
                   for job_id in claim.job_ids]
        return query_job_states(job_ids) if job_ids else {}

    def _refuse_existing_runs(self, states: Mapping[str, JobState]) -> None:
        if self.options.allow_resume:
            return
        for tag in self.tags:
            run_id = self.run_ids[tag]
            record = self.store.read_record(run_id)
            claim = self.ledger.read(run_id)
            live = claim is not None and claim.submission_id != self.submission_id and claim.is_live(states)
            if record is not None and record["stage_status"] != "complete" and not live:
                raise RunExistsError(f"run {run_id} of stage {tag} exists and is {record['stage_status']}",
                                     "pass --allow_resume to continue it")

    # -- acting --------------------------------------------------------------------------------

    def _stage(self, stage: Stage, states: Mapping[str, JobState]) -> StageOutcome:
        run_id = self.run_ids[stage.tag]
        if self.options.dry_run:
            return self._peek(stage, run_id)
        if self.slurm is None and self._may_run(run_id, states):
            _check_entries(self.manifest, [stage.tag])  # before its lock: a bad entry writes nothing
        with self.store.lock(run_id):
            record = self.store.read_record(run_id)
            if record is not None and record["stage_status"] == "complete":
                return self._skip_complete(stage, run_id)
            claim = self.ledger.read(run_id)
            if claim is not None and claim.submission_id != self.submission_id and claim.is_live(states):
                self._foreign[stage.tag] = claim
                if claim.job_ids:
                    self._completing_job[stage.tag] = claim.job_ids[-1]
                return StageOutcome(stage.tag, run_id, "in progress", claim.describe(), claim.job_ids)
            if record is not None and not self.options.allow_resume:
                raise RunExistsError(f"run {run_id} of stage {stage.tag} exists and is {record['stage_status']}",
                                     "pass --allow_resume to continue it")
            job = self._job(stage, run_id)
            if self.slurm is not None:
                return self._queue(stage, job, record)
            claim = self._claim(run_id)
            self.ledger.write(claim)
        return self._run_here(stage, job, record, claim)

    def _may_run(self, run_id: str, states: Mapping[str, JobState]) -> bool:
        """Read-only guess whether this submitter will run ``run_id`` (decided for real under its lock)."""
        record = self.store.read_record(run_id)
        if record is not None and record["stage_status"] == "complete":
            return False
        claim = self.ledger.read(run_id)
        return claim is None or claim.submission_id == self.submission_id or not claim.is_live(states)

    def _peek(self, stage: Stage, run_id: str) -> StageOutcome:
        record = self.store.read_record(run_id)
        if record is not None and record["stage_status"] == "complete":
            return self._skip_complete(stage, run_id)
        return StageOutcome(stage.tag, run_id, "would run", "dry run: nothing written")

    def _skip_complete(self, stage: Stage, run_id: str) -> StageOutcome:
        problems = verify_run(self.store, run_id, recompute=False)  # rehash only; recomputing is `runlab verify`'s
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise SchemaError(f"complete run {run_id} does not verify: {problems[0]}{more}",
                              f"see `runlab verify {run_id}`; move the damaged run away to recompute it")
        return StageOutcome(stage.tag, run_id, "complete", "already complete; skipped")

    def _job(self, stage: Stage, run_id: str) -> StageJob:
        return build_stage_job(
            self.manifest, self.config, stage, run_id, {need: self.run_ids[need] for need in stage.needs},
            runs_root=str(self.store.root), executor=self.profile.executor, submission_id=self.submission_id,
            allow_resume=self.options.allow_resume, run_id_mode=self.options.run_id_mode,
        )

    def _claim(self, run_id: str, job_ids: tuple[str, ...] = ()) -> Claim:
        return Claim(run_id=run_id, submission_id=self.submission_id, executor=self.profile.executor,
                     host=host_name(), pid=os.getpid(), job_ids=job_ids)

    def _queue(self, stage: Stage, job: StageJob, record: Mapping | None) -> StageOutcome:
        assert self.slurm is not None
        dependencies = [self._completing_job[need] for need in stage.needs if need in self._completing_job]
        job_ids = self.slurm.launch(stage, job, pending_tasks(stage, record), dependencies)
        self.ledger.write(self._claim(job.spec.run_id, job_ids))
        self._completing_job[stage.tag] = job_ids[-1]
        after = f" after {','.join(dependencies)}" if dependencies else ""
        return StageOutcome(stage.tag, job.spec.run_id, "queued", f"SLURM job(s) {','.join(job_ids)}{after}", job_ids)

    def _run_here(self, stage: Stage, job: StageJob, record: Mapping | None, claim: Claim) -> StageOutcome:
        started = time.monotonic()
        try:
            tasks = pending_tasks(stage, record)
            if tasks is None:
                self._call(job)
            else:
                for number, task in enumerate(tasks, start=1):
                    self._call(replace(job, task_index=task))
                    self.say(f"{stage.tag}: array task {task} done ({number}/{len(tasks)})")
                self._call(replace(job, fan_in=True))
        finally:
            with self.store.lock(claim.run_id):
                self.ledger.release(claim)
        return StageOutcome(stage.tag, job.spec.run_id, "ran", f"{time.monotonic() - started:.2f} s here")

    def _call(self, job: StageJob) -> None:
        if self.profile.executor == "debug":
            import submitit

            executor = submitit.DebugExecutor(folder=self.store.internal_dir / "debug" / job.spec.run_id)
            executor.submit(job).result()
        else:
            job()

    def _await(self, tag: str, claim: Claim) -> None:
        """Block until another submitter's local run of ``tag`` completes; fail if it dies first."""
        run_id = self.run_ids[tag]
        last_report = time.monotonic()
        while True:
            record = self.store.read_record(run_id)
            if record is not None and record["stage_status"] == "complete":
                return
            if not claim.is_live({}) or self.ledger.read(run_id) != claim:
                record = self.store.read_record(run_id)  # the winner may have completed it since the read above
                if record is not None and record["stage_status"] == "complete":
                    return
                status = record["stage_status"] if record else "missing"
                raise RunlabError(f"stage {tag} ({run_id}) run by {claim.describe()} ended {status}",
                                  "see its run record; resubmit with --allow_resume to continue it")
            if time.monotonic() - last_report > _WAIT_REPORT_S:
                self.say(f"{tag}: waiting for {claim.describe()} to finish {run_id}")
                last_report = time.monotonic()
            time.sleep(_WAIT_POLL_S)


def _check_entries(manifest: Manifest, tags: list[str]) -> None:
    """Import every entry, fan-in and verifier now, so a typo fails the submit before anything is written or queued."""
    manifest.enable_imports()
    for tag in tags:
        stage = manifest.stages[tag]
        for reference in filter(None, (stage.entry, stage.fan_in)):
            import_callable(reference)
        if stage.verify is not None:
            import_callable(stage.verify, "verifier", "check the manifest's verify and python_path")


def pending_tasks(stage: Stage, record: Mapping | None) -> list[int] | None:
    """Array task indices still to run (all of them for a new run); None for a plain stage."""
    if stage.array is None:
        return None
    done = set(record["array"]["done"]) if record is not None and record.get("array") else set()
    return [task for task in range(stage.array) if task not in done]


def _describe(outcome: StageOutcome) -> str:
    return f"{outcome.tag:<8} {outcome.run_id:<28} {outcome.action:<12} {outcome.detail}"

