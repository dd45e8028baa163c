"""``runlab status``: one row per run, from run records first, then one batched scheduler query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from .code import changed_packages
from .ledger import Claim, Ledger
from .record import parse_utc, verdict_label
from .scheduler import array_state, query_job_states
from .store import RunStore

__all__ = ["StatusRow", "render_table", "status_rows"]


@dataclass(frozen=True)
class StatusRow:
    run_id: str
    stage: str
    status: str  # the record's stage_status, or "queued" for claimed work with no run directory yet
    slurm_state: str  # "-" when the record settles it or no SLURM job is involved
    elapsed_s: float | None
    note: str = ""  # "code changed" when the source that made a complete run differs now
    verdict: str = "-"  # what the stage states of its result: pass, FAIL, or - for none (record.verdict_label)


def status_rows(store: RunStore, run_ids: Mapping[str, str] | None) -> list[StatusRow]:
    """Rows for ``run_ids`` (run id -> stage tag), or for every run and claim under the runs root."""
    ledger = Ledger(store)
    if run_ids is None:
        claims = {claim.run_id: claim for claim in ledger.all()}
        ids = sorted(set(store.run_ids()) | set(claims))
        tags = {run_id: run_id.split("_")[1] for run_id in ids}
    else:
        ids = list(run_ids)
        tags = dict(run_ids)
        claims = {run_id: claim for run_id in ids if (claim := ledger.read(run_id)) is not None}
    records = {run_id: store.read_record(run_id) for run_id in ids}
    unsettled = [claim for run_id, claim in claims.items()
                 if claim.executor == "slurm" and (records[run_id] or {}).get("stage_status") != "complete"]
    states = query_job_states([job for claim in unsettled for job in claim.job_ids]) if unsettled else {}
    return [_row(run_id, tags[run_id], records[run_id], claims.get(run_id), states) for run_id in ids]


def _row(run_id: str, tag: str, record: Mapping | None, claim: Claim | None, states: Mapping) -> StatusRow:
    slurm_state = "-"
    if claim is not None and claim.executor == "slurm" and claim.job_ids:
        known = [states[job] for job in claim.job_ids if job in states]
        slurm_state = array_state(known) if known else "-"
    if record is None:
        return StatusRow(run_id, tag, "queued" if claim is not None else "absent", slurm_state, None)
    timings = record["timings"]
    elapsed = timings["elapsed_s"]
    if elapsed is None:
        elapsed = (datetime.now(timezone.utc) - parse_utc(timings["started_utc"])).total_seconds()
    note = "code changed" if record["stage_status"] == "complete" and changed_packages(record) else ""
    verdict = verdict_label(record.get("verdict"))
    return StatusRow(run_id, tag, record["stage_status"], slurm_state, elapsed, note, verdict)


def render_table(rows: list[StatusRow]) -> str:
    """Fixed-width text table of ``rows``."""
    lines = [f"{'RUN_ID':<30} {'STAGE':<8} {'STATUS':<10} {'VERDICT':<7} {'SLURM':<12} {'ELAPSED':>10}  NOTE"]
    for row in rows:
        elapsed = "-" if row.elapsed_s is None else f"{row.elapsed_s:.1f}s"
        lines.append(f"{row.run_id:<30} {row.stage:<8} {row.status:<10} {row.verdict:<7} {row.slurm_state:<12} "
                     f"{elapsed:>10}  {row.note}".rstrip())
    return "\n".join(lines)
