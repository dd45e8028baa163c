"""The run index: one row per run directory, parsed records kept in memory keyed by (path, mtime_ns, size).

A refresh stats ``RUN_*/run_record.json`` under the runs root (one ``scandir`` and one ``stat`` per run)
and re-reads only the records whose key changed, so a request over 10,000 runs does not re-read 10,000
files. A record is read through ``records.load_record``: one that is not a valid run record is a row whose
``problem`` says why, never an exception out of a refresh. Every row that appears, changes or disappears
gets the next sequence number: the live feed (``events.py``) sends what changed after the sequence number
a browser last saw. A complete run whose code changed since (``code.changed_packages``) is marked when its
row is read.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from ..code import changed_packages
from ..holders import Holders
from ..layout import EVENTS_PATH
from ..ledger import Ledger
from ..record import RECORD_NAME, parse_utc, verdict_label
from ..run_id import is_run_id
from ..status import progress_text, run_state
from ..store import RunStore
from .records import UnreadableRecord, load_record

__all__ = ["FILTERED", "Change", "RowFilter", "RunIndex", "RunRow", "row_from_record", "slurm_text"]

_UNREADABLE = "unreadable"  # status of a run whose record is not a readable run record
_LIVE = ("running", "dead")  # a started run, judged by its holders (status.run_state)
_REJUDGE_S = 10.0  # how often a started run's holders are judged again when nothing of it changed


@dataclass(frozen=True)
class RunRow:
    """What the run table shows of one run; ``elapsed_s`` is None while the run is running."""

    run_id: str
    study: str
    stage: str
    status: str  # complete, failed, running or dead (a started run: status.run_state), or "unreadable"
    slurm: str  # "job 123", "job 120_4", "+ requeued 2" appended; "-" outside SLURM
    started_utc: str
    elapsed_s: float | None
    host: str
    study_href: str | None = None  # the study's page for this run (studies.py), if its study has one
    problem: str | None = None  # why the record is unreadable ("unreadable record: <reason>"), else None
    code_changed: tuple[str, ...] = ()  # packages whose source differs now from what made this complete run
    config: str = ""  # the first 12 hex of the study config that made the run: the runs of one config of a sweep
    verdict: str = "-"  # what the stage states of its result: pass, FAIL, or - for none (record.verdict_label)
    verdict_summary: str = ""  # its one line, "" for none
    progress: str = "-"  # "3/8 gain, eta 1m10s" for a running run that reports progress

    def elapsed_at(self, now: datetime) -> float | None:
        """Seconds the run took, or has been running for at ``now`` (None when unknown)."""
        if self.elapsed_s is not None:
            return self.elapsed_s
        if self.status != "running" or not self.started_utc:
            return None
        return max(0.0, (now - parse_utc(self.started_utc)).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "study": self.study, "stage": self.stage, "status": self.status,
                "slurm": self.slurm, "started_utc": self.started_utc, "elapsed_s": self.elapsed_s, "host": self.host,
                "study_href": self.study_href, "problem": self.problem, "code_changed": list(self.code_changed),
                "config": self.config, "verdict": self.verdict, "verdict_summary": self.verdict_summary,
                "progress": self.progress}


@dataclass(frozen=True)
class Change:
    """Row ``run_id`` appeared or changed (``row`` set) or its run directory went away (``row`` None)."""

    seq: int
    run_id: str
    row: RunRow | None


def row_from_record(run_id: str, record: Mapping[str, Any], store: RunStore,
                    code_now: dict[str, str | None] | None = None) -> RunRow:
    """The table row of a record that ``records.load_record`` validated, in the runs root of ``store``; ``code_now``
    caches the source fingerprints found now (``code.changed_packages``) across the rows of one refresh.

    A started run is ``running`` or ``dead`` by its claim and attempt marks (no scheduler query: a claim's SLURM
    jobs count as live), and a running one shows its progress."""
    timings = record["timings"]
    complete = record["stage_status"] == "complete"
    verdict = record.get("verdict")
    status, elapsed_s = record["stage_status"], timings["elapsed_s"]
    if not complete:
        ledger = Ledger(store)
        claim = ledger.read(run_id)
        holders = Holders(store, ledger, {run_id: claim} if claim else {}, {})
        status, elapsed_s = run_state(store, run_id, record, holders)  # type: ignore[arg-type]
    running = status == "running"
    return RunRow(run_id=run_id, study=record["study"], stage=record["stage_tag"], status=status,
                  slurm=slurm_text(record["slurm"]), started_utc=timings["started_utc"],
                  elapsed_s=None if running else elapsed_s, host=record["host"],
                  code_changed=tuple(changed_packages(record, code_now)) if complete else (),
                  config=record["study_config_hash"][:12], verdict=verdict_label(verdict),
                  verdict_summary=verdict["summary"] if verdict else "",
                  progress=progress_text(store, run_id, record) if running else "-")  # type: ignore[arg-type]


def slurm_text(slurm: Mapping[str, Any]) -> str:
    """The record's SLURM block in a few words: the job (array job and task when it is one) and requeues."""
    if slurm.get("array_job_id") and slurm.get("array_task_id") is not None:
        text = f"job {slurm['array_job_id']}_{slurm['array_task_id']}"
    elif slurm.get("job_id"):
        text = f"job {slurm['job_id']}"
    else:
        return "-"
    restarts = slurm.get("restart_count") or 0
    return f"{text}, requeued {restarts}" if restarts else text


def _unreadable_row(run_id: str, reason: str) -> RunRow:
    return RunRow(run_id, "-", run_id.split("_")[1], _UNREADABLE, "-", "", None, "-",
                  problem=f"unreadable record: {reason}")


class RunIndex:
    """Rows of every run under ``root``, refreshed by a stat scan; safe to share between threads. ``link``
    gives a record's ``study_href`` (see ``studies.py``)."""

    def __init__(self, root: Path, link: Callable[[Mapping[str, Any]], str | None] | None = None) -> None:
        self.root = Path(root).resolve()
        self._store = RunStore(self.root)
        self._link = link
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[int, ...]] = {}  # run id -> (mtime_ns, size) of its record when parsed, ...
        self._rows: dict[str, RunRow] = {}
        self._changes: dict[str, Change] = {}  # run id -> its latest change; insertion order is seq order
        self._seq = 0
        self.reads = 0  # records parsed since the index was made (what the cache saves is visible in tests and bench)

    @property
    def seq(self) -> int:
        """Sequence number of the latest change (0 before any)."""
        return self._seq

    def rows(self) -> list[RunRow]:
        """Every row, sorted by run id (the run table's order is ``order.RowOrder``'s)."""
        with self._lock:
            return [self._rows[run_id] for run_id in sorted(self._rows)]

    def changes_since(self, seq: int) -> list[Change]:
        """The latest change of every run changed after ``seq``, oldest first."""
        with self._lock:
            return [change for change in self._changes.values() if change.seq > seq]

    def refresh(self) -> list[Change]:
        """Stat every run's record, re-read those whose (mtime_ns, size) changed; return the new changes."""
        seen = self._stat_records()
        code_now: dict[str, str | None] = {}  # the source fingerprints of this refresh, found once per package
        with self._lock:
            fresh: list[Change] = []
            for run_id, record_key in seen.items():
                if self._keys.get(run_id) == self._key(run_id, record_key, self._rows.get(run_id)):
                    continue
                row = self._read_row(run_id, code_now)
                self._keys[run_id] = self._key(run_id, record_key, row)
                if self._rows.get(run_id) != row:
                    self._rows[run_id] = row
                    fresh.append(self._record_change(run_id, row))
            for run_id in [run_id for run_id in self._rows if run_id not in seen]:
                del self._rows[run_id]
                del self._keys[run_id]
                fresh.append(self._record_change(run_id, None))
            return fresh

    def _record_change(self, run_id: str, row: RunRow | None) -> Change:
        self._seq += 1
        change = Change(self._seq, run_id, row)
        self._changes.pop(run_id, None)  # re-inserted last, so the dict stays in seq order
        self._changes[run_id] = change
        return change

    def _key(self, run_id: str, record_key: tuple[int, int], row: RunRow | None) -> tuple[int, ...]:
        """When a row is read again: its record changed; for a started run also its event log grew (an attempt,
        progress), or ``_REJUDGE_S`` passed (its holder may have died)."""
        if row is None or row.status not in _LIVE:
            return record_key
        try:
            stat = os.stat(self.root / run_id / EVENTS_PATH, follow_symlinks=False)
            events = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            events = (0, 0)
        return (*record_key, *events, int(time.monotonic() // _REJUDGE_S))

    def _stat_records(self) -> dict[str, tuple[int, int]]:
        """(mtime_ns, size) of the record of every well-named run directory under the root."""
        seen: dict[str, tuple[int, int]] = {}
        try:
            entries = sorted(os.scandir(self.root), key=lambda entry: entry.name)
        except OSError:  # a root gone or unreadable has no runs now; the scan goes on
            return seen
        for entry in entries:
            if not entry.name.startswith("RUN_") or not is_run_id(entry.name):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                stat = os.stat(os.path.join(entry.path, RECORD_NAME), follow_symlinks=False)
            except OSError:
                continue
            seen[entry.name] = (stat.st_mtime_ns, stat.st_size)
        return seen

    def _read_row(self, run_id: str, code_now: dict[str, str | None]) -> RunRow:
        self.reads += 1
        try:
            record = load_record(self.root / run_id)
        except UnreadableRecord as exc:
            return _unreadable_row(run_id, exc.reason)
        row = row_from_record(run_id, record, self._store, code_now)
        return row if self._link is None else replace(row, study_href=self._link(record))


FILTERED = ("study", "stage", "status", "config")  # the table's menus: row fields matched exactly


@dataclass(frozen=True)
class RowFilter:
    """The table's filters: exact study, stage, status and config (empty: any), and free text in any cell."""

    study: str = ""
    stage: str = ""
    status: str = ""
    config: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "RowFilter":
        return cls(**{name: str(query.get(name, "")).strip()[:200]
                      for name in ("study", "stage", "status", "config", "q")})

    def __getitem__(self, name: str) -> str:
        return str(getattr(self, name))

    def keeps(self, row: RunRow) -> bool:
        if any(getattr(self, name) and getattr(row, name) != getattr(self, name) for name in FILTERED):
            return False
        if not self.q:
            return True
        text = " ".join((row.run_id, row.study, row.stage, row.status, row.slurm, row.started_utc, row.host,
                         row.config, row.problem or "")).lower()
        return all(word in text for word in self.q.lower().split())
