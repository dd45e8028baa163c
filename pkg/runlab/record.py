"""``run_record.json``: build, validate (JSON Schema, on every write), read and write atomically.

The schema is ``runlab/schemas/run_record.schema.json``; its prose is ``spec/14_RUN_RECORD_SCHEMA.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
from datetime import datetime, timezone
from enum import Enum
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, TypedDict

from .atomic import atomic_write_bytes
from .code import git_commit
from .errors import SchemaError
from .image import image_versions
from .layout import is_runtime_log
from .schema import check_schema, packaged_validator

__all__ = [
    "RECORD_NAME",
    "RunRecord",
    "RunStatus",
    "artifact_digest",
    "SCHEMA_VERSION",
    "Verdict",
    "collect_versions",
    "host_name",
    "parse_utc",
    "read_record",
    "utc_now",
    "validate_record",
    "verdict_label",
    "verdict_text",
    "write_record",
]

RECORD_NAME = "run_record.json"
SCHEMA_VERSION = 2
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_VERSIONED_PACKAGES = ("numpy", "torch", "transformers", "jax")


class Timings(TypedDict):
    created_utc: str
    started_utc: str  # of the current attempt
    completed_utc: str | None
    elapsed_s: float | None  # started to completed
    attempts: int


class SlurmJob(TypedDict):
    job_id: str | None
    array_job_id: str | None
    array_task_id: int | None
    restart_count: int


class ArrayProgress(TypedDict):
    size: int
    done: list[int]


class RunError(TypedDict):
    type: str
    message: str
    utc: str


class Code(TypedDict):
    packages: dict[str, str | None]  # package -> sha256 of its source
    git_commits: dict[str, str | None]  # package -> commit of its repository ("-dirty" when changed)


class Artifact(TypedDict):
    relative_path: str
    sha256: str
    bytes: int
    created_utc: str


class Verdict(TypedDict):
    """What a stage states of its result (``Run.set_verdict``): pass or fail, apart from the run's integrity."""

    ok: bool
    summary: str  # one line
    figures: dict[str, int | float]  # a few named numbers behind it, e.g. margin_violations
    utc: str


class _OptionalFields(TypedDict, total=False):
    verdict: Verdict  # absent: the stage stated none (and in records written before verdicts existed)


class RunRecord(_OptionalFields):
    """``run_record.json`` as a typed object (the JSON Schema checks it on every read and write; spec/14 says
    what each field means). ``stage_status`` holds a :class:`RunStatus` value, changed only by :func:`set_status`."""

    schema_version: int
    run_id: str
    stage_tag: str
    study: str
    stage_status: str
    run_id_mode: str
    config_hash: str
    study_config_hash: str
    stage_version: str
    reads: list[str]
    upstream_run_ids: dict[str, str]
    upstream_digests: dict[str, str]
    code: Code
    verifier: str | None
    submission_id: str
    versions: dict[str, Any]
    determinism: dict[str, Any]
    seeds: dict[str, int]
    host: str
    executor: str
    slurm: SlurmJob
    array: ArrayProgress | None
    timings: Timings
    error: RunError | None
    annotations: dict[str, Any]
    artifact_index: list[Artifact]


class RunStatus(str, Enum):
    """A run's ``stage_status``. A run is created ``started``; a started run completes or fails; a failed run is
    started again only by a resume or requeue (or fails again, in a sibling array task); a complete run is final. :func:`set_status` is the one place
    where a record's status changes."""

    STARTED = "started"
    COMPLETE = "complete"
    FAILED = "failed"


_TRANSITIONS = {
    RunStatus.STARTED: {RunStatus.STARTED, RunStatus.COMPLETE, RunStatus.FAILED},  # started again: a restart
    RunStatus.FAILED: {RunStatus.STARTED, RunStatus.FAILED},  # failed again: a sibling array task
    RunStatus.COMPLETE: set(),
}


def set_status(record: RunRecord, status: RunStatus) -> None:
    """Move ``record`` to ``status``; SchemaError for a transition the lifecycle does not allow."""
    current = RunStatus(record["stage_status"])
    if status not in _TRANSITIONS[current]:
        raise SchemaError(f"run {record['run_id']} cannot go from {current.value} to {status.value}",
                          "a complete run is final; only a failed or started run is restarted")
    record["stage_status"] = status.value


def verdict_label(verdict: Verdict | None) -> str:
    """A record's ``verdict`` in one word: ``pass``, ``FAIL``, or ``-`` when its stage stated none (None)."""
    if verdict is None:
        return "-"
    return "pass" if verdict["ok"] else "FAIL"


def verdict_text(verdict: Verdict | None) -> str:
    """A record's ``verdict`` in one line: ``FAIL: <summary>``, ``pass: <summary>``, or ``- (none stated)``."""
    return "- (none stated)" if verdict is None else f"{verdict_label(verdict)}: {verdict['summary']}"


def utc_now() -> str:
    """Current UTC time as ``YYYY-mm-ddTHH:MM:SS.ffffffZ``."""
    return datetime.now(timezone.utc).strftime(_UTC_FORMAT)


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`utc_now` (an aware datetime)."""
    return datetime.strptime(text, _UTC_FORMAT).replace(tzinfo=timezone.utc)


def host_name() -> str:
    """Short host name of this machine."""
    return socket.gethostname().split(".")[0] or "unknown"


def artifact_digest(record: Mapping[str, Any]) -> str:
    """sha256 over a run's artifact index (sha256, size and path of every artifact, in path order; the runtime's
    own logs left out, since they differ between equal recomputations): what a downstream run records of each
    upstream it read, so that ``runlab verify`` can check the edge later."""
    lines = "".join(f"{entry['sha256']} {entry['bytes']} {entry['relative_path']}\n"
                    for entry in sorted(record["artifact_index"], key=lambda entry: entry["relative_path"])
                    if not is_runtime_log(entry["relative_path"]))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def validate_record(record: Mapping[str, Any], source: str = RECORD_NAME) -> None:
    """Raise SchemaError naming the first violation of the run record schema."""
    check_schema(record, packaged_validator("run_record"), source, SchemaError, "the run record is corrupt")


def write_record(run_dir: Path, record: RunRecord) -> None:
    """Validate and atomically write the record of ``run_dir``."""
    validate_record(record, str(Path(run_dir) / RECORD_NAME))
    text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_bytes(Path(run_dir) / RECORD_NAME, text.encode("utf-8"))


def read_record(run_dir: Path) -> RunRecord:
    """Read and validate the record of ``run_dir``."""
    path = Path(run_dir) / RECORD_NAME
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise SchemaError(f"{path} is missing", "the run directory is corrupt") from exc
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path} is not readable JSON: {exc}", "the run directory is corrupt") from exc
    validate_record(record, str(path))
    return record


@lru_cache(maxsize=1)
def collect_versions() -> dict[str, Any]:
    """Versions of python, this package, its git commit and the numerical stack (None if absent), and inside
    the suite's image what the image pins (``image``; its source commit is the git commit where no git is)."""
    image = image_versions(os.environ)
    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "runlab": _distribution_version("runlab-suite") or "0+unknown",
        "git_commit": git_commit(Path(__file__).resolve().parent) or (image["source_commit"] if image else None),
    }
    for name in _VERSIONED_PACKAGES:
        versions[name] = _distribution_version(name)
    if image is not None:
        versions["image"] = image
    return versions


def _distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
