"""A run record as the monitor reads it, or one line on why it cannot.

A record is read with ``O_NOFOLLOW | O_NONBLOCK`` (a symbolic link or a FIFO in its place is refused, never
waited on), must be a regular file, parse as JSON at most ``MAX_DEPTH`` levels deep (so nothing downstream
recurses without bound), be the record of its own run directory, validate against the run-record schema,
and carry timestamps that :func:`runlab.record.parse_utc` parses. Anything else is :class:`UnreadableRecord`:
the run table shows it as the run's row, a run page answers 404 with it; it never escapes as a 500.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import jsonschema

from ..record import RECORD_NAME, parse_utc
from ..schema import packaged_validator

__all__ = ["MAX_DEPTH", "UnreadableRecord", "load_record"]

MAX_DEPTH = 32  # a real record is 4 levels deep; annotations and determinism are free-form objects
_REASON_CHARS = 240  # a schema message quotes the offending value, which may be large
_TIMESTAMPS = ("created_utc", "started_utc", "completed_utc")


class UnreadableRecord(Exception):
    """The record of a run is not a readable run record; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(reason.split())
        reason = reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "…"
        super().__init__(reason)
        self.reason = reason


def load_record(run_dir: Path) -> dict[str, Any]:
    """The validated record of the run directory ``run_dir`` (its name is the run id); UnreadableRecord otherwise."""
    record = _parse(_read_bytes(Path(run_dir) / RECORD_NAME))
    if _deeper_than(record, MAX_DEPTH):
        raise UnreadableRecord(f"nested deeper than {MAX_DEPTH} levels")
    violation = jsonschema.exceptions.best_match(packaged_validator("run_record").iter_errors(record))
    if violation is not None:
        where = ".".join(str(part) for part in violation.absolute_path) or "(top level)"
        raise UnreadableRecord(f"invalid at {where}: {violation.message}")
    if record["run_id"] != Path(run_dir).name:
        raise UnreadableRecord(f"it is the record of {record['run_id']}, not of {Path(run_dir).name}")
    for name in _TIMESTAMPS:
        value = record["timings"][name]
        try:
            if value is not None:
                parse_utc(value)
        except ValueError:
            raise UnreadableRecord(f"invalid at timings.{name}: {value!r} is not a UTC time like "
                                   "2026-01-02T03:04:05.678901Z") from None
    return record


def _read_bytes(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableRecord(f"{path.name} is a symbolic link (not followed)") from None
        raise UnreadableRecord(f"{path.name} cannot be opened: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UnreadableRecord(f"{path.name} is not a regular file")
        try:
            return handle.read()
        except OSError as exc:
            raise UnreadableRecord(f"{path.name} cannot be read: {exc.strerror}") from None


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise UnreadableRecord(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise UnreadableRecord(f"not readable JSON: {exc}") from None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests objects and arrays more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
