"""``runlab status``: one row per run, from run records first, then one batched scheduler query.

A run's status tells running work from dead work: ``running`` while a holder is alive (its claim, an attempt
executing it, or its SLURM job: ``holders.Holders``), ``dead`` when it is ``started`` and none is. Elapsed is
started to completed for a complete run, started to the failure for a failed one, started to its last sign of
life for a dead one, and started to now for a running one. A running run that reports progress shows done /
total and an ETA at its mean rate so far.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from .code import changed_packages
from .eventlog import last_event
from .holders import Holders
from .ledger import Ledger
from .progress import eta_s, format_duration
from .record import RunRecord, parse_utc, verdict_label
from .scheduler import array_state
from .store import RunStore

__all__ = ["STATES", "StatusRow", "progress_text", "render_table", "run_state", "status_rows", "summary_line"]

STATES = ("complete", "running", "queued", "failed", "dead", "absent")  # in the order the summary counts them


@dataclass(frozen=True)
class StatusRow:
    run_id: str
    stage: str
    status: str  # one of STATES
    slurm_state: str  # "-" when the record settles it or no SLURM job is involved
    elapsed_s: float | None
    note: str = ""  # "code changed" for a complete run whose source differs now; what a dead run lacks
    verdict: str = "-"  # what the stage states of its result: pass, FAIL, or - for none (record.verdict_label)
    study: str = "-"
    config: str = "-"  # the first 8 hex digits of the study config that made the run: its config group
    progress: str = "-"  # "3/8 gain, eta 1m10s" for a running run that reports progress


def status_rows(store: RunStore, run_ids: Mapping[str, str] | None) -> list[StatusRow]:
    """Rows for ``run_ids`` (run id -> stage tag), or for every run and claim under the runs root."""
    if run_ids is None:
        ids = sorted(set(store.run_ids()) | {claim.run_id for claim in Ledger(store).all()})
        tags = {run_id: run_id.split("_")[1] for run_id in ids}
    else:
        ids = list(run_ids)
        tags = dict(run_ids)
    records = {run_id: store.read_record(run_id) for run_id in ids}
    holders = Holders.of(store, records)
    return [_row(store, run_id, tags[run_id], records[run_id], holders) for run_id in ids]


def run_state(store: RunStore, run_id: str, record: RunRecord | None, holders: Holders) -> tuple[str, float | None]:
    """``(status, elapsed_s)`` of a run as ``runlab status`` shows them (see the module docstring)."""
    live = holders.live(run_id, record)
    if record is None:
        return ("queued" if live else "dead" if run_id in holders.claims else "absent"), None
    timings = record["timings"]
    started = parse_utc(timings["started_utc"])
    status = record["stage_status"]
    if status == "complete":
        return status, timings["elapsed_s"]
    if status == "failed":
        ended = parse_utc(record["error"]["utc"]) if record["error"] else _last_sign_of_life(store, run_id, started)
        return status, max(0.0, (ended - started).total_seconds())
    if live:
        return "running", max(0.0, (datetime.now(timezone.utc) - started).total_seconds())
    return "dead", max(0.0, (_last_sign_of_life(store, run_id, started) - started).total_seconds())


def _row(store: RunStore, run_id: str, tag: str, record: RunRecord | None, holders: Holders) -> StatusRow:
    slurm_state = "-"
    claim = holders.claims.get(run_id)
    if claim is not None and claim.executor == "slurm" and claim.job_ids:
        known = [holders.states[job] for job in claim.job_ids if job in holders.states]
        slurm_state = array_state(known) if known else "unknown" if holders.scheduler_unknown else "-"
    status, elapsed = run_state(store, run_id, record, holders)
    if record is None:
        note = "its submitter or job is gone; runlab gc clears the claim" if status == "dead" else ""
        return StatusRow(run_id, tag, status, slurm_state, None, note)
    if status == "complete" and changed_packages(record):
        note = "code changed"
    elif status == "dead":
        note = "no live holder: continue it with runlab submit --allow-resume"
    elif status == "failed":
        note = f"see runlab logs {run_id}; runlab submit --allow-resume continues it"
    else:
        note = ""
    progress = progress_text(store, run_id, record) if status == "running" else "-"
    return StatusRow(run_id, tag, status, slurm_state, elapsed, note, verdict_label(record.get("verdict")),
                     record["study"], record["study_config_hash"][:8], progress)


def progress_text(store: RunStore, run_id: str, record: RunRecord) -> str:
    """``"3/8 gain, eta 1m10s"`` from the run's newest progress event; an array run counts its tasks too."""
    array = record["array"]
    tasks = f"tasks {len(array['done'])}/{array['size']}" if array else ""
    event = last_event(store.run_dir(run_id), "progress")
    if event is None or not isinstance(event.get("done"), int) or not isinstance(event.get("total"), int):
        return tasks or "-"
    reported = f"{event['done']}/{event['total']} {event.get('unit', 'step')}"
    eta = eta_s(event["done"], event["total"], float(event.get("elapsed_s") or 0.0))
    if eta is not None:
        since_s = (datetime.now(timezone.utc) - parse_utc(event["utc"])).total_seconds()
        reported += f", eta {format_duration(max(0.0, eta - since_s))}"
    return f"{tasks}; {event.get('part', 'stage')} {reported}" if tasks else reported


def _last_sign_of_life(store: RunStore, run_id: str, started: datetime) -> datetime:
    """When a run last showed it was alive: its newest event, else its start."""
    event = last_event(store.run_dir(run_id))
    try:
        return max(started, parse_utc(event["utc"])) if event else started
    except (KeyError, TypeError, ValueError):
        return started


def summary_line(rows: list[StatusRow]) -> str:
    """``"6 runs: 4 complete, 1 running, 1 dead"`` (states with no run left out)."""
    counts = Counter(row.status for row in rows)
    parts = [f"{counts[state]} {state}" for state in STATES if counts[state]]
    return f"{len(rows)} run{'s' if len(rows) != 1 else ''}: {', '.join(parts) or 'none'}"


def render_table(rows: list[StatusRow], summary: bool = True) -> str:
    """Fixed-width text table of ``rows``, and the summary line under it."""
    lines = [f"{'RUN_ID':<30} {'STAGE':<8} {'STATUS':<9} {'VERDICT':<7} {'SLURM':<12} {'ELAPSED':>10}  "
             f"{'STUDY':<14} {'CONFIG':<8} {'PROGRESS':<28} NOTE"]
    for row in rows:
        elapsed = "-" if row.elapsed_s is None else f"{row.elapsed_s:.1f}s"
        lines.append(f"{row.run_id:<30} {row.stage:<8} {row.status:<9} {row.verdict:<7} {row.slurm_state:<12} "
                     f"{elapsed:>10}  {row.study:<14} {row.config:<8} {row.progress:<28} {row.note}".rstrip())
    if summary:
        lines.append(summary_line(rows))
    return "\n".join(lines)
