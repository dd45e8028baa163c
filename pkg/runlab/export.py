"""``runlab export``: one ``.tar.gz`` of a complete run and, with its lineage, of every run upstream of it.

The archive's members are ``RUN_<TAG>_<HASH>/...`` paths, so unpacking it into an empty folder makes a runs
root that ``runlab verify --all`` accepts on any machine. A run contributes its record, its two config files
and every indexed artifact (no checkpoint, no temporaries); each artifact is rehashed as it is packed, so a
run damaged on this side is refused instead of shipped. The archive appears atomically, whole or not at all.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from .atomic import TEMP_SUFFIX, commit_temporary
from .errors import ConfigError, SchemaError
from .layout import ARTIFACT_DIRS, CONFIG_NAME, STUDY_CONFIG_NAME, assert_no_symlinks
from .record import RECORD_NAME, RunRecord
from .store import RunStore
from .verify import lineage_problems

__all__ = ["ExportSummary", "export_runs", "lineage"]


@dataclass(frozen=True)
class ExportSummary:
    run_ids: tuple[str, ...]  # upstream runs first, the exported run last
    files: int
    bytes: int  # of the files packed, before compression


def lineage(store: RunStore, run_id: str) -> list[str]:
    """``run_id`` and every run upstream of it, recursively, each once, upstream first; MissingUpstreamError
    (exit 3) for one that is missing or incomplete."""
    ordered: list[str] = []

    def visit(current: str, needed_by: str) -> None:
        if current in ordered:
            return
        record = store.complete_record(current, needed_by=needed_by)
        for upstream in sorted(record["upstream_run_ids"].values()):
            visit(upstream, current)
        ordered.append(current)

    visit(run_id, "")
    return ordered


def export_runs(store: RunStore, run_id: str, archive: Path, *, with_upstream: bool,
                say: Callable[[str], None]) -> ExportSummary:
    """Write ``archive`` (gzip-compressed tar) holding complete run ``run_id`` and, ``with_upstream``, its lineage."""
    record = store.read_record(run_id)
    if record is None or record["stage_status"] != "complete":
        status = "missing" if record is None else record["stage_status"]
        raise ConfigError(f"run {run_id} is {status}, not complete; only complete runs are exported",
                          "complete it first (runlab submit ... --allow_resume)")
    run_ids = lineage(store, run_id) if with_upstream else [run_id]
    archive = Path(archive)
    if archive.is_dir() or not archive.parent.is_dir():
        raise ConfigError(f"cannot write the archive {archive}",
                          "name a file in an existing folder, e.g. lineage.tar.gz")
    temporary = archive.with_name(f".{archive.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
    files = size = 0
    try:
        with open(temporary, "xb") as handle:
            with tarfile.open(fileobj=handle, mode="w:gz") as tar:
                for current in run_ids:
                    packed = _pack_run(tar, store, store.complete_record(current))
                    files += packed[0]
                    size += packed[1]
            handle.flush()
            os.fsync(handle.fileno())
        commit_temporary(temporary, archive)
    finally:
        temporary.unlink(missing_ok=True)
    upstream = len(run_ids) - 1
    say(f"exported {run_id}" + (f" and {upstream} upstream run{'s' if upstream != 1 else ''}" if with_upstream else "")
        + f" ({files} files, {size} bytes) to {archive}")
    return ExportSummary(tuple(run_ids), files, size)


def _pack_run(tar: tarfile.TarFile, store: RunStore, record: RunRecord) -> tuple[int, int]:
    """Add one run to ``tar``; returns (files, bytes)."""
    run_id = record["run_id"]
    run_dir = store.run_dir(run_id)
    problems = lineage_problems(store, record)
    if problems:
        raise SchemaError(f"run {run_id} does not verify: {problems[0]}", f"see `runlab verify {run_id}`")
    tar.add(run_dir, arcname=run_id, recursive=False, filter=_portable)
    for folder in ARTIFACT_DIRS:
        if (run_dir / folder).is_dir():
            tar.add(run_dir / folder, arcname=f"{run_id}/{folder}", recursive=False, filter=_portable)
    files = size = 0
    for name in (RECORD_NAME, CONFIG_NAME, STUDY_CONFIG_NAME):
        size += _add_file(tar, run_dir, run_id, name, None)
        files += 1
    for entry in record["artifact_index"]:
        size += _add_file(tar, run_dir, run_id, entry["relative_path"], entry)
        files += 1
    return files, size


def _add_file(tar: tarfile.TarFile, run_dir: Path, run_id: str, relative: str, entry: dict | None) -> int:
    """Add ``run_dir/relative``, a regular file; with its index ``entry``, rehashed while packed."""
    path = run_dir / relative
    assert_no_symlinks(run_dir, relative)
    try:
        info = tar.gettarinfo(str(path), arcname=f"{run_id}/{relative}")
    except FileNotFoundError:
        raise SchemaError(f"{relative} of {run_id} is missing",
                          f"see `runlab verify {run_id}`; the run is damaged") from None
    if not info.isfile():
        raise SchemaError(f"{path} is not a regular file", f"see `runlab verify {run_id}`; the run is damaged")
    if entry is not None and info.size != entry["bytes"]:
        raise SchemaError(f"artifact {relative} of {run_id} is {info.size} bytes, recorded {entry['bytes']}",
                          f"see `runlab verify {run_id}`; the run is damaged")
    with open(path, "rb") as handle:
        reader = _HashingReader(handle)
        tar.addfile(_portable(info), reader)
    if entry is not None and reader.digest.hexdigest() != entry["sha256"]:
        raise SchemaError(f"artifact {relative} of {run_id} differs from its recorded sha256",
                          f"see `runlab verify {run_id}`; the run is damaged")
    return info.size


def _portable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner names or ids of this machine in the archive."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _HashingReader:
    """A binary file that updates a sha256 with what is read from it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data
