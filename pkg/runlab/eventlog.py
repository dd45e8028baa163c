"""A run's own log: ``logs/events.jsonl`` (what happened to it, one JSON object per line) and the stdout and
stderr of each attempt under ``logs/attempts/``.

Events are appended, never rewritten: ``created``; ``attempt_started`` (attempt number, part, host, pid,
executor, SLURM job); ``checkpoint``; ``requeued``; ``progress`` (done, total, unit); ``task_done``;
``failed`` (the error line); ``complete``. An attempt is one opening of the run by a job (a plain stage,
one array task, the fan-in, a requeue); its output is ``logs/attempts/<NNN>-<part>.out`` and ``.err``.
When the run completes, these files join its artifact index like any other artifact, but they describe how
the run went, not what it computed: ``layout.is_runtime_log`` keeps them out of the digest that downstream runs
record (``record.artifact_digest``), so a run recomputed deterministically keeps its lineage edges.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from .layout import ATTEMPTS_DIR, EVENTS_PATH, assert_no_symlinks
from .record import utc_now

__all__ = ["append_event", "attempt_log_paths", "last_event", "part_name", "read_events", "runtime_log_files"]

_TAIL_BYTES = 1 << 16


def part_name(task_index: int | None, fan_in: bool = False) -> str:
    """What part of a run a job executes: ``"stage"``, ``"task-0003"`` or ``"fan-in"``."""
    if fan_in:
        return "fan-in"
    return "stage" if task_index is None else f"task-{task_index:04d}"


def attempt_log_paths(run_dir: Path, attempt: int, part: str) -> tuple[Path, Path]:
    """``(stdout, stderr)`` files of attempt ``attempt`` of ``part`` ("stage", "task-0003", "fan-in")."""
    stem = Path(run_dir) / ATTEMPTS_DIR / f"{attempt:03d}-{part}"
    return stem.with_suffix(".out"), stem.with_suffix(".err")


def append_event(run_dir: Path, event: str, **fields: Any) -> None:
    """Append one event line (``utc``, ``event`` and ``fields``) to the run's event log.

    One ``write`` of one line opened with ``O_APPEND``: lines of concurrent writers (array tasks) do not
    interleave on a local or Lustre filesystem; on NFS a torn line can happen and readers skip it.
    """
    line = json.dumps({"utc": utc_now(), "event": event, **fields}, sort_keys=True, default=str) + "\n"
    path = Path(run_dir) / EVENTS_PATH
    assert_no_symlinks(run_dir, EVENTS_PATH)  # a logs/ linked out of the run is refused, not followed
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        os.write(descriptor, line.encode("utf-8"))
    finally:
        os.close(descriptor)


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every readable event of a run, oldest first (none if it has no event log)."""
    try:
        text = (Path(run_dir) / EVENTS_PATH).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return list(_parsed(text.splitlines()))


def last_event(run_dir: Path, event: str | None = None) -> dict[str, Any] | None:
    """The newest ``event`` (of any kind if None) among the last 64 KiB of the event log (cheap enough for every
    row of a status)."""
    try:
        with open(Path(run_dir) / EVENTS_PATH, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    return next((entry for entry in reversed(list(_parsed(lines))) if event is None or entry.get("event") == event),
                None)


def runtime_log_files(run_dir: Path) -> list[str]:
    """Relative paths of the runtime's log files present in ``run_dir``, sorted."""
    run_dir = Path(run_dir)
    found = [EVENTS_PATH] if (run_dir / EVENTS_PATH).is_file() else []
    attempts = run_dir / ATTEMPTS_DIR
    if attempts.is_dir():
        found += [f"{ATTEMPTS_DIR}/{path.name}" for path in attempts.iterdir() if path.is_file()]
    return sorted(found)


def _parsed(lines: list[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line (a writer killed mid-line, or NFS)
        if isinstance(entry, dict):
            yield entry
