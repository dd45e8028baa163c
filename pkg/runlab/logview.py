"""``runlab logs``: a run's attempts with their stdout and stderr, its event log, the SLURM jobs' own output,
and following a running run as it writes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from .errors import ConfigError
from .eventlog import attempt_log_paths, read_events
from .layout import INTERNAL_DIR
from .record import RunStatus
from .store import RunStore

__all__ = ["Attempt", "attempts", "print_events", "print_logs", "scheduler_logs"]

_POLL_S = 0.5


@dataclass(frozen=True)
class Attempt:
    number: int
    part: str
    started_utc: str
    where: str  # "host pid N" and the SLURM job if any

    def files(self, run_dir: Path) -> tuple[Path, Path]:
        return attempt_log_paths(run_dir, self.number, self.part)


def attempts(run_dir: Path) -> list[Attempt]:
    """The attempts the run's event log names, in order."""
    found = []
    for event in read_events(run_dir):
        if event.get("event") == "attempt_started" and isinstance(event.get("attempt"), int):
            job = f", SLURM job {event['slurm_job_id']}" if event.get("slurm_job_id") else ""
            found.append(Attempt(event["attempt"], str(event.get("part", "stage")), str(event.get("utc", "?")),
                                 f"{event.get('host', '?')} pid {event.get('pid', '?')}{job}"))
    return found


def print_events(run_dir: Path, out: TextIO | None = None) -> None:
    """The event log, one line per event: time, event, then its fields (to ``out``, default stdout)."""
    out = out or sys.stdout
    for event in read_events(run_dir):
        fields = " ".join(f"{key}={value}" for key, value in sorted(event.items()) if key not in ("utc", "event"))
        print(f"{event.get('utc', '?')}  {event.get('event', '?'):<15} {fields}".rstrip(), file=out)


def print_logs(store: RunStore, run_id: str, attempt: int | None = None, follow: bool = False,
               out: TextIO | None = None) -> None:
    """Each attempt's stdout and stderr under a header line (only attempt ``attempt`` if given) to ``out``
    (default stdout); with ``follow``, keep printing what the run writes until it is no longer running."""
    out = out or sys.stdout
    run_dir = store.run_dir(run_id)
    offsets: dict[Path, int] = {}
    shown_headers: set[tuple[int, str]] = set()

    def show_new() -> bool:
        chosen = [item for item in attempts(run_dir) if attempt is None or item.number == attempt]
        if attempt is not None and not chosen and not follow:
            known = ", ".join(str(item.number) for item in attempts(run_dir)) or "none"
            raise ConfigError(f"run {run_id} has no attempt {attempt}", f"its attempts: {known}")
        wrote = False
        for item in chosen:
            for path, stream in zip(item.files(run_dir), ("stdout", "stderr")):
                block = _read_from(path, offsets.get(path, 0))
                if not block:
                    continue
                if (item.number, stream) not in shown_headers:
                    print(f"== attempt {item.number} {item.part} {stream} ({item.started_utc}, {item.where}) ==", file=out)
                    shown_headers.add((item.number, stream))
                offsets[path] = offsets.get(path, 0) + len(block)
                out.write(block.decode("utf-8", errors="replace"))
                wrote = True
        out.flush()
        return wrote

    if not show_new() and not follow:
        print(f"{run_id}: its {len(attempts(run_dir))} attempt(s) printed nothing; see runlab logs {run_id} --events",
              file=out)
    if follow:
        _follow(store, run_id, show_new)


def scheduler_logs(store: RunStore, run_id: str) -> list[Path]:
    """The SLURM jobs' own output files (submitit's ``*_log.out`` and ``*_log.err``) of a run's jobs: what a job
    printed before it opened the run, or after."""
    record = store.read_record(run_id)
    if record is None:
        return []
    jobs = {job for job in (record["slurm"]["job_id"], record["slurm"]["array_job_id"]) if job}
    folder = store.root / INTERNAL_DIR / "slurm"
    found = {path for path in folder.glob(f"{run_id}/*/*_log.*")}
    for job in jobs:
        found |= set(folder.glob(f"*/{job}*/*_log.*"))
    return sorted(found)


def _follow(store: RunStore, run_id: str, show_new: Callable[[], bool]) -> None:
    """Poll until the run has left ``started`` and its files have stopped growing; Ctrl-C ends it quietly."""
    try:
        while True:
            record = store.read_record(run_id)
            running = record is not None and record["stage_status"] == RunStatus.STARTED.value
            if not show_new() and not running:
                return
            time.sleep(_POLL_S)
    except KeyboardInterrupt:
        return


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""
