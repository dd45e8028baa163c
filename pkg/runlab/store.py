"""The run store: immutable, content-addressed run directories under one runs root.

Every change to a run directory or its record happens under that run's lock (see ``lock.py``). A run
directory appears atomically: it is built under a temporary name and renamed into place with its
record and resolved config already inside, so a run directory without a record never exists. A
complete run is final; an incomplete one (``started`` or ``failed``) is reopened only by the
submission that created it (array siblings, a requeued job) or when the caller allows resume.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import secrets
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping

from .atomic import atomic_write_bytes, remove_stale_temporaries
from .code import code_block
from .config import ResolvedConfig, resolved_from_bytes
from .identity import DeclaredConfig, StageIdentity
from .errors import ConfigError, MissingUpstreamError, RunExistsError, SchemaError
from .eventlog import append_event
from .layout import (
    ARTIFACT_DIRS,
    CHECKPOINT_DIR,
    CONFIG_NAME,
    INTERNAL_DIR,
    REMOVING_SUFFIX,
    STAGING_SUFFIX,
    STUDY_CONFIG_NAME,
    assert_no_symlinks,
)
from .lock import DEFAULT_LEASE_S, DEFAULT_WAIT_S, held_lock
from .record import (
    SCHEMA_VERSION,
    RunRecord,
    RunStatus,
    artifact_digest,
    collect_versions,
    host_name,
    read_record,
    set_status,
    utc_now,
    write_record,
)
from .run_id import is_run_id, timestamp_run_id, validate_run_id, validate_stage_tag

__all__ = ["RUNS_ROOT_ENV", "ExecutionContext", "RunSpec", "RunStore", "find_runs_root", "resolve_runs_root", "sha256_file", "tree_bytes"]

RUNS_ROOT_ENV = "RUNLAB_RUNS_ROOT"
DEFAULT_RUNS_DIR = "runs"  # the runs root's name looked for above the working directory when no CANON names one

_UNWRITABLE = {
    errno.EROFS: ("is on a read-only filesystem", "remount it read-write or pass --runs_root with a writable folder"),
    errno.EACCES: ("is not writable by this user", "fix its permissions or pass --runs_root with a folder of yours"),
    errno.EPERM: ("does not permit the change", "fix its permissions or pass --runs_root with a folder of yours"),
    errno.ENOSPC: ("is full", "free space on its filesystem or pass --runs_root with another, then rerun"),
    errno.EDQUOT: ("is over its disk quota", "free space within the quota, then rerun"),
}
"""Errors of the runs root's filesystem that are the user's to fix, and what to do about each."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies a run and goes into its record at creation."""

    run_id: str
    run_id_mode: str
    identity: StageIdentity
    study_config: ResolvedConfig  # the whole study config of this submission, kept beside the identity
    submission_id: str
    seed: int
    verifier: str | None = None  # ``package.module:function`` that ``runlab verify`` calls on the complete run
    code_packages: tuple[str, ...] = ()  # packages the stage runs, fingerprinted into the record's ``code``
    manifest: str = "its manifest"  # where the stage is declared, for error hints

    @property
    def stage_tag(self) -> str:
        return self.identity.tag

    @property
    def study(self) -> str:
        return self.identity.study

    @property
    def upstream_run_ids(self) -> Mapping[str, str]:
        return self.identity.upstream

    @property
    def array_size(self) -> int | None:
        return self.identity.array

    def stage_config(self) -> DeclaredConfig:
        """What the stage sees as ``run.config``: its declared keys, and an error for any other key of the study config."""
        return DeclaredConfig(self.identity.config, self.study_config.data, stage=self.stage_tag, manifest=self.manifest)

    @cached_property
    def identity_config(self) -> ResolvedConfig:
        """The identity bytes (``config_resolved.yaml``) as a resolved config, with their sha256 (``config_hash``)."""
        return resolved_from_bytes(self.identity.identity_bytes, f"identity of {self.run_id}")


@dataclass(frozen=True)
class ExecutionContext:
    """Where and how a run is executed: host, executor, and the SLURM job if any."""

    executor: str
    host: str = field(default_factory=host_name)
    slurm_job_id: str | None = None
    slurm_array_job_id: str | None = None
    slurm_array_task_id: int | None = None
    restart_count: int = 0

    @classmethod
    def from_environment(cls, executor: str, environ: Mapping[str, str] = os.environ) -> "ExecutionContext":
        """Read the SLURM job variables of the current process, if it runs under SLURM."""
        task = environ.get("SLURM_ARRAY_TASK_ID")
        return cls(
            executor=executor,
            slurm_job_id=environ.get("SLURM_JOB_ID"),
            slurm_array_job_id=environ.get("SLURM_ARRAY_JOB_ID"),
            slurm_array_task_id=int(task) if task else None,
            restart_count=int(environ.get("SLURM_RESTART_COUNT", "0") or 0),
        )

    def slurm_block(self) -> dict[str, Any]:
        return {
            "job_id": self.slurm_job_id,
            "array_job_id": self.slurm_array_job_id,
            "array_task_id": self.slurm_array_task_id,
            "restart_count": self.restart_count,
        }


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunStore:
    """A runs root: run directories ``RUN_*`` plus ``.runlab/`` (locks, submission claims, scheduler logs)."""

    def __init__(self, root: Path, *, lease_s: float = DEFAULT_LEASE_S, lock_wait_s: float = DEFAULT_WAIT_S) -> None:
        self.root = Path(root).resolve()
        self.lease_s = lease_s
        self.lock_wait_s = lock_wait_s

    # -- layout -------------------------------------------------------------------------------

    @property
    def internal_dir(self) -> Path:
        return self.root / INTERNAL_DIR

    def run_dir(self, run_id: str) -> Path:
        return self.root / validate_run_id(run_id)

    def exists(self, run_id: str) -> bool:
        return self.run_dir(run_id).is_dir()

    def lock(self, run_id: str) -> ContextManager[None]:
        """Hold the lock of ``run_id``."""
        return self._held(f"{validate_run_id(run_id)}.lock", f"run {run_id}")

    def allocation_lock(self, stage_tag: str) -> ContextManager[None]:
        """Hold the lock that serializes ``timestamp_counter`` id allocation for ``stage_tag``."""
        return self._held(f"allocate_{validate_stage_tag(stage_tag)}.lock", f"id allocation for {stage_tag}")

    @contextmanager
    def _held(self, name: str, what: str) -> Iterator[None]:
        locks = self.internal_dir / "locks"
        with ExitStack() as held:
            with self.writing(f"take the lock of {what}"):  # the body's own errors pass through untouched
                locks.mkdir(parents=True, exist_ok=True)
                held.enter_context(held_lock(locks / name, what=what, lease_s=self.lease_s, wait_s=self.lock_wait_s))
            yield

    @contextmanager
    def writing(self, action: str) -> Iterator[None]:
        """Turn an OSError of the body that the user must fix (read-only, no permission, full, over quota) into
        one ConfigError line (exit 2) naming the runs root, ``action`` (what failed) and what to do."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in _UNWRITABLE:
                raise
            state, hint = _UNWRITABLE[exc.errno]
            raise ConfigError(f"cannot {action}: runs root {self.root} {state} ({errno.errorcode[exc.errno]})", hint) from exc

    def read_record(self, run_id: str) -> RunRecord | None:
        """The record of ``run_id``, or None if there is no such run."""
        run_dir = self.run_dir(run_id)
        if not run_dir.is_dir():
            return None
        return read_record(run_dir)

    def status_of(self, run_id: str) -> str:
        """The ``stage_status`` of ``run_id``, or ``missing`` when there is no such run."""
        record = self.read_record(run_id)
        return "missing" if record is None else record["stage_status"]

    def find_run(self, text: str) -> str:
        """The run id that ``text`` names: a whole id, or a prefix of exactly one run's id under the root (as git
        takes a unique prefix of a commit); ConfigError (exit 2) when it names none or several."""
        if _RUN_ID_PREFIX.fullmatch(text or "") is None:
            raise ConfigError(f"invalid run id {text!r}", "a run id looks like RUN_S01_0123456789ab (a unique prefix will do)")
        if is_run_id(text) and self.exists(text):
            return text
        matches = [run_id for run_id in self.run_ids() if run_id.startswith(text)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ConfigError(f"no run {text} under {self.root}", "see `runlab ls`")
        shown = ", ".join(matches[:8]) + (f" and {len(matches) - 8} more" if len(matches) > 8 else "")
        raise ConfigError(f"{text} names {len(matches)} runs under {self.root}: {shown}", "give more of the run id")

    def run_ids(self) -> list[str]:
        """Ids of every run directory under the root, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in os.scandir(self.root) if entry.name.startswith("RUN_") and entry.is_dir())

    # -- creating and reopening ---------------------------------------------------------------

    def open_run(self, spec: RunSpec, context: ExecutionContext, *, allow_resume: bool) -> RunRecord | None:
        """Create the run of ``spec`` or reopen it for execution; None if it is already complete.

        Reopening an incomplete run is allowed to the submission that created it, or when
        ``allow_resume``; otherwise RunExistsError (exit 4). A run whose stored config differs from
        ``spec.config`` is corrupt (SchemaError).
        """
        with self.lock(spec.run_id):
            record = self.read_record(spec.run_id)
            if record is None:
                record = self._new_record(spec, context)
                with self.writing(f"create run {spec.run_id}"):
                    self._materialize(spec, record)
                return record
            self._check_same_run(spec, record)
            if record["stage_status"] == "complete":
                return None
            if record["submission_id"] != spec.submission_id and not allow_resume:
                raise RunExistsError(
                    f"run {spec.run_id} exists and is incomplete ({record['stage_status']})",
                    "pass --allow_resume to continue it",
                )
            return self._reopen(spec, context, record, allow_resume=allow_resume)

    def allocate_timestamp_id(self, stage_tag: str, is_taken: Callable[[str], bool]) -> str:
        """A fresh ``timestamp_counter`` id for ``stage_tag`` that is neither a run nor ``is_taken``."""
        with self.writing(f"allocate a run id for {stage_tag}"):
            self.root.mkdir(parents=True, exist_ok=True)
        now = datetime.now(timezone.utc)
        for counter in range(1000):
            candidate = timestamp_run_id(stage_tag, now, counter)
            if not self.exists(candidate) and not is_taken(candidate):
                return candidate
        return timestamp_run_id(stage_tag, now, 1000)  # raises the ConfigError for an exhausted second

    def _new_record(self, spec: RunSpec, context: ExecutionContext) -> RunRecord:
        now = utc_now()
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": spec.run_id,
            "stage_tag": spec.stage_tag,
            "study": spec.study,
            "stage_status": RunStatus.STARTED.value,
            "run_id_mode": spec.run_id_mode,
            "config_hash": spec.identity_config.sha256,
            "study_config_hash": spec.study_config.sha256,
            "stage_version": spec.identity.version,
            "reads": list(spec.identity.reads),
            "upstream_run_ids": dict(spec.upstream_run_ids),
            "upstream_digests": {upstream: artifact_digest(self.complete_record(upstream, needed_by=spec.run_id))
                                 for upstream in sorted(spec.upstream_run_ids.values())},
            "code": code_block(spec.code_packages),
            "verifier": spec.verifier,
            "submission_id": spec.submission_id,
            "versions": collect_versions(),
            "determinism": {},
            "seeds": {"global": spec.seed},
            "host": context.host,
            "executor": context.executor,
            "slurm": context.slurm_block(),
            "array": None if spec.array_size is None else {"size": spec.array_size, "done": []},
            "timings": {"created_utc": now, "started_utc": now, "completed_utc": None, "elapsed_s": None, "attempts": 1},
            "error": None,
            "annotations": {},
            "artifact_index": [],
        }

    def _materialize(self, spec: RunSpec, record: RunRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{spec.run_id}.{secrets.token_hex(6)}{STAGING_SUFFIX}"
        try:
            staging.mkdir()
            for name in (*ARTIFACT_DIRS, CHECKPOINT_DIR):
                (staging / name).mkdir()
            atomic_write_bytes(staging / CONFIG_NAME, spec.identity_config.yaml_bytes)
            atomic_write_bytes(staging / STUDY_CONFIG_NAME, spec.study_config.yaml_bytes)
            write_record(staging, record)
            append_event(staging, "created", submission_id=spec.submission_id, host=record["host"],
                         executor=record["executor"])
            os.rename(staging, self.run_dir(spec.run_id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _check_same_run(self, spec: RunSpec, record: Mapping[str, Any]) -> None:
        if record["run_id"] != spec.run_id or record["config_hash"] != spec.identity_config.sha256:
            raise SchemaError(
                f"run directory {self.run_dir(spec.run_id)} holds another run "
                f"(record says {record['run_id']} with config {record['config_hash'][:12]})",
                "the runs root is corrupt; move that directory away",
            )

    def _reopen(self, spec: RunSpec, context: ExecutionContext, record: RunRecord, *,
                allow_resume: bool) -> RunRecord:
        """Join the run as its own submission's task, or restart it (resume, requeue) as a new attempt."""
        run_dir = self.run_dir(spec.run_id)
        for folder in (*ARTIFACT_DIRS, CHECKPOINT_DIR):  # a link planted in a stopped run is refused before any write
            assert_no_symlinks(run_dir, folder)
        same_submission = record["submission_id"] == spec.submission_id
        requeued = context.restart_count > record["slurm"]["restart_count"]
        joining = same_submission and not requeued and (record["stage_status"] == "started" or not allow_resume)
        record["timings"]["attempts"] += 1
        if not joining:  # siblings may be writing now; a restart follows dead writers only
            remove_stale_temporaries(run_dir)
            set_status(record, RunStatus.STARTED)
            record.pop("verdict", None)  # a failed attempt's verdict is not the result's: the new attempt states its own
            record.update(error=None, submission_id=spec.submission_id,
                          host=context.host, executor=context.executor, verifier=spec.verifier,
                          code=code_block(spec.code_packages))
            record["slurm"] = context.slurm_block()
            record["timings"]["started_utc"] = utc_now()
        with self.writing(f"reopen run {spec.run_id}"):
            write_record(run_dir, record)
        return record

    # -- changes made by an executing run ----------------------------------------------------

    def update_record(self, run_id: str, change: Callable[[RunRecord], None]) -> RunRecord:
        """Apply ``change`` to the record of an incomplete run under its lock and write it back."""
        with self.lock(run_id):
            record = self.read_record(run_id)
            if record is None:
                raise MissingUpstreamError(f"run {run_id} does not exist", "it was removed while running")
            if record["stage_status"] == "complete":
                raise RunExistsError(f"run {run_id} is complete and final", "a complete run is never rewritten")
            change(record)
            with self.writing(f"update the record of run {run_id}"):
                write_record(self.run_dir(run_id), record)
            return record

    # -- removing runs -----------------------------------------------------------------------

    def discard_unstarted_run(self, run_id: str) -> bool:
        """Under its lock, remove incomplete run ``run_id`` if nothing was kept in it yet (no indexed artifact,
        annotation or checkpoint): what a stage that failed on bad input or the environment leaves, so that the
        corrected command starts afresh instead of meeting an existing run. Array runs are kept (sibling tasks may
        be writing). True if the run was removed."""
        with self.lock(run_id):
            record = self.read_record(run_id)
            if record is None or record["stage_status"] == "complete" or record["array"] is not None:
                return False
            checkpoint = self.run_dir(run_id) / CHECKPOINT_DIR
            if record["artifact_index"] or record["annotations"] or (checkpoint.is_dir() and any(checkpoint.iterdir())):
                return False
            self.remove_run_dir(run_id)
            return True

    def remove_run_dir(self, run_id: str) -> int:
        """Delete the directory of ``run_id`` (the caller holds its lock): renamed to a hidden ``.removing`` name
        first, so the run vanishes at once and a crash mid-delete leaves only what ``runlab gc`` clears; returns
        the bytes freed."""
        doomed = self.root / f".{validate_run_id(run_id)}.{secrets.token_hex(6)}{REMOVING_SUFFIX}"
        os.rename(self.run_dir(run_id), doomed)
        freed = tree_bytes(doomed)
        shutil.rmtree(doomed)
        return freed

    # -- reading complete runs ----------------------------------------------------------------

    def complete_record(self, run_id: str, *, needed_by: str = "") -> RunRecord:
        """Record of a complete run; MissingUpstreamError (exit 3) if absent or incomplete."""
        who = f" (needed by {needed_by})" if needed_by else ""
        record = self.read_record(run_id)
        if record is None:
            raise MissingUpstreamError(f"upstream run {run_id}{who} does not exist under {self.root}",
                                       "run its stage first (runlab submit runs the whole chain)")
        if record["stage_status"] != "complete":
            raise MissingUpstreamError(f"upstream run {run_id}{who} is {record['stage_status']}, not complete",
                                       "wait for it, or resume it with --allow_resume")
        return record


def tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file itself), links not followed."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size if os.path.lexists(path) else 0
    return sum(os.lstat(os.path.join(folder, name)).st_size
               for folder, _, files in os.walk(path) for name in files)


_RUN_ID_PREFIX = re.compile(r"[A-Za-z0-9_]{1,64}")


def resolve_runs_root(flag: str | None, canon_default: Any, environ: Mapping[str, str] = os.environ) -> Path:
    """Runs root from ``--runs-root``, else ``$RUNLAB_RUNS_ROOT``, else the nearest runs root at or above the
    working directory (:func:`find_runs_root`; said on stderr when it is not ``./<RUNS_DIR>``), else
    ``CANON.PATH.RUNS_DIR`` relative to the working directory, where ``runlab submit`` creates it."""
    chosen = flag or environ.get(RUNS_ROOT_ENV)
    if not chosen:
        here = Path.cwd()
        found = find_runs_root(here, canon_default)
        if found is not None:
            if found != (here / _runs_dir_name(canon_default)).resolve():
                print(f"runlab: runs root {found} (found above the working directory)", file=sys.stderr, flush=True)
            return found
        chosen = canon_default
    if not isinstance(chosen, str) or not chosen:
        raise ConfigError("no runs root is set", f"pass --runs-root, set {RUNS_ROOT_ENV}, or define CANON.PATH.RUNS_DIR")
    root = Path(chosen).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"runs root {root} is not a directory", "choose another --runs-root")
    return root.resolve()


def find_runs_root(start: Path, canon_default: Any = None) -> Path | None:
    """The nearest runs root at or above ``start``, as git finds its repository: walking up to the filesystem
    root, the first folder that is a runs root (holds ``.runlab/``, which the store makes in every runs root)
    or holds one under the name ``canon_default`` (``CANON.PATH.RUNS_DIR``; ``runs`` where no CANON names one).
    None when there is none, or when ``canon_default`` is an absolute path: that runs root is the same from
    every folder."""
    name = _runs_dir_name(canon_default)
    if not name or Path(name).expanduser().is_absolute():
        return None
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        for candidate in (folder, folder / name):
            if (candidate / INTERNAL_DIR).is_dir():
                return candidate.resolve()
    return None


def _runs_dir_name(canon_default: Any) -> str:
    """The runs root's name relative to a working directory: ``CANON.PATH.RUNS_DIR``, ``runs`` without one."""
    if canon_default is None:
        return DEFAULT_RUNS_DIR
    return canon_default if isinstance(canon_default, str) else ""
