"""``runlab submit``: turn a manifest and a config into run ids, skip what is done, run or queue the rest.

For each stage, in dependency order and under that run's lock, the submitter decides:

- complete and its artifacts verify: skip it and say so;
- claimed by live work (another submitter's process or SLURM jobs): leave it; downstream stages wait
  for it (local) or depend on its last job (SLURM). A claim whose holder is dead (``ledger``: pid gone or
  reused, or no heartbeat for the lease) is broken, and a waiter whose holder dies decides again;
- otherwise (new, or incomplete with ``--allow_resume``): claim it and run it (local) or queue it (SLURM:
  ``afterok`` dependencies on upstream jobs, an ``--array`` for fan-out and a fan-in job that completes
  the run). No driver process stays behind to poll on SLURM.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter
from typing import Any, Callable, Mapping, Sequence

from .backends import Backend, LocalBackend, Started, StartRun
from .code import changed_packages
from .determinism import DeterminismSettings
from .errors import RunExistsError, RunlabError, SchemaError
from .execute import StageJob
from .ledger import Claim, Ledger
from .liveness import Holder
from .manifest import Manifest, Resources, Stage, import_callable
from .identity import StageIdentity
from .plan import Plan
from .profile import Profile
from .record import RunRecord, Verdict, verdict_text
from .scheduler import JobState, query_job_states
from .store import RunSpec, RunStore
from .verify import verify_run

__all__ = ["GpuRun", "StageOutcome", "SubmitOptions", "Submitter", "build_stage_job"]

_WAIT_POLL_S = 0.2
_WAIT_REPORT_S = 30.0
_QUEUING_WAIT_S = 120.0  # how long a submitter waits for another to finish queuing a run's SLURM jobs


@dataclass(frozen=True)
class SubmitOptions:
    allow_resume: bool = False
    dry_run: bool = False
    run_id_mode: str = "content_hash"
    targets: tuple[str, ...] = ()  # stages to bring about (with their upstream); empty: all
    run_upstream: bool = True  # False: the targets' upstream runs must be complete already (exit 3 otherwise)


@dataclass(frozen=True)
class StageOutcome:
    """What one submit did for one run: ``action`` is complete, ran, queued, in progress or would run."""

    tag: str
    run_id: str
    action: str
    detail: str = ""
    job_ids: tuple[str, ...] = field(default=())
    configs: int = 1  # how many configs of the submission share this run
    verdict: Verdict | None = None  # what the stage stated of a complete run's result (record["verdict"])


@dataclass(frozen=True)
class _Work:
    """One distinct run of a submission: the stage of the first plan that needs it."""

    plan: Plan
    tag: str
    identity: StageIdentity
    run_id: str
    configs: int = 1

    @property
    def stage(self) -> Stage:
        return self.plan.stage(self.tag)

    @property
    def seed(self) -> int:
        return DeterminismSettings.from_config(self.plan.config.data.get("determinism") or {}).seed


def build_stage_job(plan: Plan, tag: str, *, runs_root: str, executor: str, submission_id: str, allow_resume: bool,
                    run_id_mode: str = "content_hash", identity: StageIdentity | None = None,
                    run_id: str | None = None) -> StageJob:
    """The job that runs stage ``tag`` of ``plan`` (array tasks and fan-in are ``replace``s of it); ``identity`` and
    ``run_id`` default to the plan's (a timestamp id passes both)."""
    identity = identity or plan.identities[tag]
    stage = plan.stage(tag)
    determinism = plan.config.data.get("determinism") or {}
    spec = RunSpec(
        run_id=run_id or identity.run_id, run_id_mode=run_id_mode, identity=identity, study_config=plan.config,
        submission_id=submission_id, seed=DeterminismSettings.from_config(determinism).seed, verifier=stage.verify,
        code_packages=plan.manifest.packages(tag), manifest=str(plan.manifest.path),
    )
    return StageJob(spec=spec, entry=stage.entry, fan_in_entry=stage.fan_in, runs_root=runs_root,
                    executor=executor, allow_resume=allow_resume, determinism=determinism,
                    python_path=tuple(str(folder) for folder in plan.manifest.python_path), gpus=stage.resources.gpus,
                    chain_index=stage.chain_index, chain_previous=stage.chain_previous)


@dataclass(frozen=True)
class GpuRun:
    """A run of a stage that asks for GPUs, as a submission is about to start it (what a GPU budget check gets)."""

    tag: str
    gpus: int  # per job or array task (the manifest's resources, as the SLURM profile fits them)
    tasks: int  # array tasks (1: not an array)
    config: Mapping[str, Any]  # the resolved study config of (one of) the configs that need it


class Submitter:
    """One ``runlab submit`` of one or more configs (a sweep) through one profile.

    Runs are deduplicated by id: a stage whose identity is the same for several configs (its inputs are
    not swept) is one run, acted on once. Dependencies are kept per config, by run id.
    """

    def __init__(self, plans: Sequence[Plan], profile: Profile, store: RunStore, options: SubmitOptions,
                 say: Callable[[str], None] = print) -> None:
        for plan in plans:
            DeterminismSettings.from_config(plan.config.data.get("determinism"))  # bad settings fail before any work
        self.profile = profile
        self.store = store
        self.options = options
        self.say = say
        self.ledger = Ledger(store)
        self.submission_id = secrets.token_hex(8)
        self.backend: Backend
        if profile.executor == "slurm":
            from .slurm_backend import SlurmBackend  # submitit loads only for SLURM profiles

            self.backend = SlurmBackend(profile, store, plans[0].manifest.study, dry_run=options.dry_run)
        else:
            self.backend = LocalBackend(profile.executor, store, say)
        self.queues = self.backend.executor == "slurm"  # queued jobs run later; local runs finish before the next
        self.work = self._distinct_work(plans)
        # SLURM and dry runs import every entry up front, so a typo fails before anything is queued;
        # local runs import a stage's entry only when they are about to run it, so that racing
        # submitters that only wait for a winner do not pay for the study's imports.
        if self.queues or options.dry_run:
            for item in self.work:
                _check_entries(item.plan.manifest, [item.tag])
        self._completing_job: dict[str, str] = {}  # run id -> SLURM job whose success completes it
        self._foreign: dict[str, Claim] = {}  # run id -> live claim of another submitter

    def submit(self) -> list[StageOutcome]:
        """Decide and act for every run, one group (a stage across the sweep) at a time, upstream groups first;
        raises RunExistsError before acting if any run blocks."""
        states = self._claimed_job_states()
        self._refuse_existing_runs(states)
        self._check_gpu_budget()
        outcomes: dict[str, StageOutcome] = {}
        for group in _stage_groups(self.work):
            starting: list[tuple[_Work, StartRun]] = []
            for item in group:
                decided = self._decide(item, states)
                while isinstance(decided, StageOutcome) and decided.action == "in progress" and not self.queues:
                    self.say(_describe(decided))
                    if self._await(item, self._foreign[item.run_id]):
                        decided = replace(decided, action="complete", detail=f"completed by {decided.detail}",
                                          verdict=self._verdict_of(item.run_id))
                    else:  # its holder died or was replaced: decide again under the lock (break, resume or wait)
                        decided = self._decide(item, states)
                if isinstance(decided, StartRun):
                    starting.append((item, decided))
                    continue
                outcomes[item.run_id] = decided
                self.say(_describe(decided))
            if starting:
                for (item, run), started in zip(starting, self.backend.start([run for _, run in starting])):
                    outcomes[item.run_id] = self._started(item, run, started)
                    self.say(_describe(outcomes[item.run_id]))
                    for line in started.lines:
                        self.say(line)
        return [outcomes[item.run_id] for item in self.work]

    def _check_gpu_budget(self) -> None:
        """The manifest's ``gpu_budget`` check over the runs of GPU stages not yet complete, before any acts."""
        reference = self.work[0].plan.manifest.gpu_budget if self.work else None
        starting = [GpuRun(item.tag, item.stage.resources.gpus, item.stage.array or 1, item.plan.config.data)
                    for item in self.work
                    if item.stage.resources.gpus > 0 and self.store.status_of(item.run_id) != "complete"]
        if reference is None or not starting:
            return
        self.work[0].plan.manifest.enable_imports()
        line = import_callable(reference, "GPU budget check", "check the manifest's gpu_budget")(starting)
        if line:
            self.say(line)

    # -- planning ------------------------------------------------------------------------------

    def _distinct_work(self, plans: Sequence[Plan]) -> list[_Work]:
        """Every run the plans need, once, upstream first (a run shared by several configs counts them)."""
        work: dict[str, _Work] = {}
        for plan in plans:
            tags = plan.manifest.closure(list(self.options.targets)) if self.options.targets else list(plan.identities)
            actual: dict[str, str] = {}  # tag -> run id used (differs from the plan's in timestamp_counter mode)
            for tag in tags:
                identity = plan.identities[tag]
                identity = replace(identity, upstream={need: actual[need] for need in identity.upstream})
                if self.options.run_id_mode == "content_hash":
                    run_id = identity.run_id
                elif self._upstream_only(tag):
                    run_id = self._complete_run_of(plan, identity)
                else:
                    run_id = self._timestamp_id(tag)
                actual[tag] = run_id
                if self._upstream_only(tag):
                    continue  # read, not run: the job checks that it is complete (exit 3)
                if run_id in work:
                    work[run_id] = replace(work[run_id], configs=work[run_id].configs + 1)
                else:
                    work[run_id] = _Work(plan, tag, identity, run_id)
        return list(work.values())

    def _timestamp_id(self, tag: str) -> str:
        if self.options.dry_run:
            return f"RUN_{tag}_00000000T000000Z_000"
        with self.store.allocation_lock(tag):
            run_id = self.store.allocate_timestamp_id(tag, lambda candidate: self.ledger.read(candidate) is not None)
            self.ledger.write(self._claim(run_id))
        return run_id

    def _complete_run_of(self, plan: Plan, identity: StageIdentity) -> str:
        """In ``timestamp_counter`` mode, the run an upstream-only stage is read from: its content-hash run if
        complete, else the newest complete run of the stage made from the same study config and stage version
        (else the content-hash id, which then fails as a missing upstream, exit 3)."""
        if self.store.status_of(identity.run_id) == "complete":
            return identity.run_id
        for run_id in sorted(self.store.run_ids(), reverse=True):
            if run_id.startswith(f"RUN_{identity.tag}_") and run_id != identity.run_id:
                record = self.store.read_record(run_id)
                if (record is not None and record["stage_status"] == "complete"
                        and record["study_config_hash"] == plan.config.sha256
                        and record["stage_version"] == identity.version):
                    return run_id
        return identity.run_id

    def _upstream_only(self, tag: str) -> bool:
        """Whether ``tag`` is only upstream of the targets, read but not run (``run_upstream`` off)."""
        return not self.options.run_upstream and bool(self.options.targets) and tag not in self.options.targets

    def _claimed_job_states(self) -> dict[str, JobState]:
        if not self.queues:
            return {}
        job_ids = [job_id for item in self.work if (claim := self.ledger.read(item.run_id))
                   for job_id in claim.job_ids]
        return query_job_states(job_ids) if job_ids else {}

    def _refuse_existing_runs(self, states: Mapping[str, JobState]) -> None:
        if self.options.allow_resume:
            return
        for item in self.work:
            record = self.store.read_record(item.run_id)
            claim = self.ledger.read(item.run_id)
            live = (claim is not None and claim.submission_id != self.submission_id
                    and self.ledger.is_live(claim, states))
            if record is not None and record["stage_status"] != "complete" and not live:
                raise RunExistsError(f"run {item.run_id} of stage {item.tag} exists and is {record['stage_status']}",
                                     "pass --allow_resume to continue it")

    # -- acting --------------------------------------------------------------------------------

    def _decide(self, item: _Work, states: Mapping[str, JobState]) -> StageOutcome | StartRun:
        """Under the run's lock: its outcome when there is nothing to start (complete, in progress elsewhere, a dry
        run), else the run to start, with the claim written for it (a claim without SLURM jobs yet stands while
        this submitter lives, and other SLURM submitters wait until it names its jobs)."""
        run_id = item.run_id
        if self.options.dry_run:
            return self._peek(item)
        if not self.queues and self._may_run(run_id, states):
            _check_entries(item.plan.manifest, [item.tag])  # before its lock: a bad entry writes nothing
        deadline = time.monotonic() + _QUEUING_WAIT_S
        while (decided := self._decide_locked(item, states)) is None:
            # another submitter holds the run and is queuing its jobs: wait for their ids (this run's downstream
            # must depend on them), outside the lock that submitter needs to write them
            if time.monotonic() > deadline:
                raise RunlabError(f"stage {item.tag} ({run_id}) has been queuing by another submitter for over "
                                  f"{_QUEUING_WAIT_S:.0f} s", "see `runlab status`; submit again once it is queued")
            time.sleep(_WAIT_POLL_S)
        if isinstance(decided, StageOutcome):
            return decided
        return self._start_run(item, *decided)

    def _start_run(self, item: _Work, record: RunRecord | None, claim: Claim) -> StartRun:
        job = self._job(item)
        after = [self._completing_job[need] for need in job.spec.upstream_run_ids.values()
                 if need in self._completing_job]
        return StartRun(item.stage, job, record, claim, after)

    def _decide_locked(self, item: _Work, states: Mapping[str, JobState]
                       ) -> StageOutcome | tuple[RunRecord | None, Claim] | None:
        """``_decide``'s step under the run's lock: an outcome, or the record and the claim now written for this
        submitter (breaking a dead submitter's claim first), or None while another live submitter is still queuing
        the run's SLURM jobs."""
        run_id = item.run_id
        with self.store.lock(run_id):
            record = self.store.read_record(run_id)
            if record is not None and record["stage_status"] == "complete":
                return self._skip_complete(item)
            claim = self.ledger.read(run_id)
            if claim is not None and claim.submission_id != self.submission_id:
                dead = self.ledger.dead_reason(claim, states)
                if dead is None:
                    if self.queues and claim.executor == "slurm" and not claim.job_ids:
                        return None
                    self._foreign[run_id] = claim
                    if claim.job_ids:
                        self._completing_job[run_id] = claim.job_ids[-1]
                    return self._outcome(item, "in progress", claim.describe(), claim.job_ids)
                if not claim.on_scheduler:  # a dead submitter's claim; ended SLURM jobs' stays for `runlab status`
                    self.ledger.remove(run_id)
                    self.say(f"{item.tag}: broke the claim of {claim.describe()} on {run_id}: {dead}")
            if record is not None and not self.options.allow_resume:
                raise RunExistsError(f"run {run_id} of stage {item.tag} exists and is {record['stage_status']}",
                                     "pass --allow_resume to continue it")
            claim = self._claim(run_id)
            self.ledger.write(claim)
        return record, claim

    def _started(self, item: _Work, run: StartRun, started: Started) -> StageOutcome:
        """The outcome of a run its backend started; a queued run's claim now names its jobs."""
        if not started.job_ids:
            return self._outcome(item, "ran", started.detail)
        if self.options.dry_run:  # the names a dry run gives the jobs it would queue, for its downstream's edges
            self._completing_job[item.run_id] = started.job_ids[-1]
            return self._outcome(item, "would run", started.detail)
        with self.store.lock(item.run_id):
            self.ledger.write(self._claim(item.run_id, started.job_ids))
        self._completing_job[item.run_id] = started.job_ids[-1]
        return self._outcome(item, "queued", started.detail, started.job_ids)

    def _outcome(self, item: _Work, action: str, detail: str = "", job_ids: tuple[str, ...] = ()) -> StageOutcome:
        verdict = self._verdict_of(item.run_id) if action in ("complete", "ran") else None
        return StageOutcome(item.tag, item.run_id, action, detail, job_ids, item.configs, verdict)

    def _verdict_of(self, run_id: str) -> Verdict | None:
        return (self.store.read_record(run_id) or {}).get("verdict")

    def _may_run(self, run_id: str, states: Mapping[str, JobState]) -> bool:
        """Read-only guess whether this submitter will run ``run_id`` (decided for real under its lock)."""
        record = self.store.read_record(run_id)
        if record is not None and record["stage_status"] == "complete":
            return False
        claim = self.ledger.read(run_id)
        return claim is None or claim.submission_id == self.submission_id or not self.ledger.is_live(claim, states)

    def _peek(self, item: _Work) -> StageOutcome | StartRun:
        """A dry run's decision, writing nothing: on SLURM a run to start, which the backend describes, not queues."""
        record = self.store.read_record(item.run_id)
        if record is not None and record["stage_status"] == "complete":
            return self._skip_complete(item)
        if self.queues:
            return self._start_run(item, record, self._claim(item.run_id))
        return self._outcome(item, "would run", "dry run: nothing written")

    def _skip_complete(self, item: _Work) -> StageOutcome:
        problems = verify_run(self.store, item.run_id, recompute=False)  # rehash only; recomputing is `runlab verify`'s
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise SchemaError(f"complete run {item.run_id} does not verify: {problems[0]}{more}",
                              f"see `runlab verify {item.run_id}`; move the damaged run away to recompute it")
        changed = changed_packages(self.store.read_record(item.run_id) or {})
        if changed:
            self.say(f"code changed since {item.run_id} ({', '.join(changed)}); "
                     f"bump the version of stage {item.stage.chain_of or item.tag} in its manifest to recompute")
        return self._outcome(item, "complete", "already complete; skipped")

    def _job(self, item: _Work) -> StageJob:
        return build_stage_job(item.plan, item.tag, runs_root=str(self.store.root), executor=self.profile.executor,
                               submission_id=self.submission_id, allow_resume=self.options.allow_resume,
                               run_id_mode=self.options.run_id_mode, identity=item.identity, run_id=item.run_id)

    def _claim(self, run_id: str, job_ids: tuple[str, ...] = ()) -> Claim:
        holder = Holder.this_process()
        return Claim(run_id=run_id, submission_id=self.submission_id, executor=self.profile.executor,
                     host=holder.host, pid=holder.pid, job_ids=job_ids, start_ticks=holder.start_ticks)

    def _await(self, item: _Work, claim: Claim) -> bool:
        """Block until another submitter's local run of ``item`` completes (True), or its holder dies or another
        takes the run over (False: decide again); fail if the holder released the run without completing it."""
        run_id = item.run_id
        last_report = time.monotonic()
        while True:
            record = self.store.read_record(run_id)
            if record is not None and record["stage_status"] == "complete":
                return True
            current = self.ledger.read(run_id)
            if current is not None and (current != claim or not self.ledger.is_live(current, {})):
                return False
            if current is None:
                record = self.store.read_record(run_id)  # the winner may have completed it since the read above
                if record is not None and record["stage_status"] == "complete":
                    return True
                status = record["stage_status"] if record else "missing"
                raise RunlabError(f"stage {item.tag} ({run_id}) run by {claim.describe()} ended {status}",
                                  "see its run record; resubmit with --allow_resume to continue it")
            if time.monotonic() - last_report > _WAIT_REPORT_S:
                self.say(f"{item.tag}: waiting for {claim.describe()} to finish {run_id}")
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


def _stage_groups(work: Sequence[_Work]) -> list[list[_Work]]:
    """The runs grouped by stage tag, seed and resources (what one job array can hold), in dependency order."""
    groups: dict[tuple[str, int, Resources], list[_Work]] = {}
    owner: dict[str, tuple[str, int, Resources]] = {}
    for item in work:
        key = (item.tag, item.seed, item.stage.resources)
        groups.setdefault(key, []).append(item)
        owner[item.run_id] = key
    graph = {key: {owner[need] for item in items for need in item.identity.upstream.values() if need in owner}
             for key, items in groups.items()}
    return [groups[key] for key in TopologicalSorter(graph).static_order()]


def _describe(outcome: StageOutcome) -> str:
    shared = f" (shared by {outcome.configs} configs)" if outcome.configs > 1 else ""
    judged = "" if outcome.verdict is None else f"; verdict {verdict_text(outcome.verdict)}"
    return f"{outcome.tag:<8} {outcome.run_id:<28} {outcome.action:<12} {outcome.detail}{shared}{judged}"

