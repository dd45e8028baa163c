"""Batched job-state queries to SLURM: one ``squeue`` call, then one ``sacct`` call, never one per job.

``squeue`` (slurmctld) is asked first: it is current, and with ``--states=all`` it also reports jobs
that ended less than ``MinJobAge`` seconds ago. ``sacct`` (slurmdbd) lags slurmctld by seconds under
load, so it answers only for the ids ``squeue`` no longer knows, and for arrays whose visible tasks
have all ended (slurmctld forgets ended tasks one by one, so its view of an old array can be
partial; for tasks both know, ``squeue`` wins). On a cluster without accounting those ids come back
as ``UNKNOWN``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runlab.errors import RunlabError

__all__ = [
    "LIVE_STATES",
    "JobState",
    "SchedulerUnavailable",
    "array_state",
    "cluster_reachable",
    "max_array_size",
    "parse_sacct",
    "parse_squeue",
    "query_job_states",
]

SQUEUE_FORMAT = "%i|%T|%M"
SACCT_FORMAT = "JobID,State,ElapsedRaw"
_IDS_PER_SQUEUE = 1000
_TIMEOUT_S = 60

# squeue's answer (exit 1) when the only id it was given is unknown; with two or more ids it
# silently leaves the unknown ones out.
_SQUEUE_UNKNOWN_ID = "Invalid job id specified"
# sacct's answers when accounting is off ("accounting_storage/none") or slurmdbd/MariaDB is down.
_NO_ACCOUNTING = ("accounting storage is disabled", "Problem talking to the database")

_ACTIVE = frozenset(
    {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT", "SUSPENDED", "STOPPED", "RESIZING"}
)
_WAITING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT"})
# The one list of states in which a job's work may still go on (PREEMPTED: a requeued job passes through it).
LIVE_STATES = _ACTIVE | _WAITING | {"PREEMPTED"}
# End states other than COMPLETED, worst first: an ended array reports the first one any task has.
_FAILURES = (
    "FAILED",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "TIMEOUT",
    "DEADLINE",
    "PREEMPTED",
    "CANCELLED",
    "REVOKED",
)

_JOB_ID = re.compile(r"\d+(?:_\d+)?")
_COLLAPSED_TASKS = re.compile(r"(\d+)_\[([\d,-]+)(?:%\d+)?\]")
_DURATION = re.compile(r"(?:(?:(\d+)-)?(\d+):)?(\d+):(\d+)")


@dataclass(frozen=True)
class JobState:
    """What SLURM says about one job or array task; ``elapsed_s`` in seconds, None when unknown."""

    job_id: str  # "123", or "123_4" for an array task
    state: str  # SLURM state (PENDING, RUNNING, COMPLETED, FAILED, ...); "UNKNOWN" when no source knows it
    elapsed_s: int | None
    source: str  # "squeue" | "sacct" | "none"


def parse_squeue(text: str) -> dict[str, JobState]:
    """States from ``squeue --noheader --array --format=%i|%T|%M`` output, keyed by job id."""
    states: dict[str, JobState] = {}
    for job_id, state, elapsed in _rows(text, "squeue"):
        for key in _expand_tasks(job_id):
            states[key] = JobState(key, state, _duration_s(elapsed), "squeue")
    return states


def parse_sacct(text: str) -> dict[str, JobState]:
    """States from ``sacct --noheader --parsable2 --allocations --format=JobID,State,ElapsedRaw`` output."""
    states: dict[str, JobState] = {}
    for job_id, state, elapsed in _rows(text, "sacct"):
        name = state.split(" ", 1)[0]  # "CANCELLED by 0" -> "CANCELLED"
        seconds = int(elapsed) if elapsed.isdigit() else None
        for key in _expand_tasks(job_id):
            states[key] = JobState(key, name, seconds, "sacct")
    return states


def query_job_states(job_ids: Sequence[str]) -> dict[str, JobState]:
    """States of ``job_ids`` and of every task ("123_4") of the arrays among them; an array id maps to its summary."""
    ids = list(dict.fromkeys(job_ids))
    bad = [job_id for job_id in ids if not _JOB_ID.fullmatch(job_id)]
    if bad:
        raise RunlabError(f"not a SLURM job id: {bad[0]!r}", hint='use "123" or "123_4"')
    if not ids:
        return {}
    known: dict[str, JobState] = {}
    for start in range(0, len(ids), _IDS_PER_SQUEUE):
        known.update(_squeue(ids[start : start + _IDS_PER_SQUEUE]))
    tasks = _tasks_by_array(known)
    # sacct for ids squeue no longer knows, and for arrays whose visible tasks all ended
    # (slurmctld forgets ended tasks one by one, so its view may miss an early failure)
    ask = [job_id for job_id in ids if job_id not in known and _all_ended(tasks.get(job_id, {}).values())]
    accounted = _sacct(ask) if ask else {}
    return _select(ids, {**accounted, **known})


def array_state(states: Iterable[JobState]) -> str:
    """One state for an array's tasks: PENDING while all wait, RUNNING until all ended, then COMPLETED or the worst."""
    names = {state.state for state in states}
    if names & _ACTIVE:
        return "RUNNING"
    if names & _WAITING:
        return "PENDING" if names <= _WAITING else "RUNNING"
    if names == {"COMPLETED"}:
        return "COMPLETED"
    return next((name for name in _FAILURES if name in names), "UNKNOWN")


def max_array_size() -> int:
    """MaxArraySize of the cluster, from ``scontrol show config`` (task indices run 0 to this minus 1)."""
    result = _run(["scontrol", "show", "config"])
    if result.returncode != 0:
        raise RunlabError(
            f"scontrol show config failed: {_first_line(result.stderr)}", hint="check slurmctld (scontrol ping)"
        )
    return _parse_max_array_size(result.stdout)


def cluster_reachable() -> bool:
    """True when ``sinfo`` answers (SLURM is installed and slurmctld is up)."""
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--format=%P"], capture_output=True, timeout=10, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _squeue(ids: Sequence[str]) -> dict[str, JobState]:
    jobs = ",".join(ids)
    result = _run(["squeue", "--noheader", "--array", "--states=all", f"--jobs={jobs}", f"--format={SQUEUE_FORMAT}"])
    if result.returncode != 0:
        if _SQUEUE_UNKNOWN_ID in result.stderr:
            return {}
        raise RunlabError(f"squeue failed: {_first_line(result.stderr)}", hint="check slurmctld (scontrol ping)")
    return parse_squeue(result.stdout)


def _sacct(ids: Sequence[str]) -> dict[str, JobState]:
    if shutil.which("sacct") is None:
        return {}
    jobs = ",".join(ids)
    result = _run(["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={jobs}", f"--format={SACCT_FORMAT}"])
    if result.returncode != 0:
        if any(message in result.stderr for message in _NO_ACCOUNTING):
            return {}
        raise RunlabError(
            f"sacct failed: {_first_line(result.stderr)}", hint="check slurmdbd (sacctmgr show cluster)"
        )
    return parse_sacct(result.stdout)


class SchedulerUnavailable(RunlabError):
    """SLURM's commands are not installed where runlab runs (a runs root from a cluster, read on a laptop)."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise SchedulerUnavailable(
            f"{argv[0]} not found: SLURM is not installed here",
            hint="run on a SLURM login node, or start a one-node cluster with: sudo slurm/one-node/start.sh",
        ) from None
    except subprocess.TimeoutExpired:
        raise RunlabError(
            f"{argv[0]} gave no answer in {_TIMEOUT_S} s", hint="check slurmctld (scontrol ping)"
        ) from None


def _select(ids: Sequence[str], known: dict[str, JobState]) -> dict[str, JobState]:
    """The states of ``ids`` in ``known``: an array id brings its tasks and a summary; the rest are UNKNOWN."""
    tasks = _tasks_by_array(known)
    states: dict[str, JobState] = {}
    for job_id in ids:
        if job_id in tasks:  # before a plain row: sacct lists a new array as one plain job for a while
            members = tasks[job_id]
            states.update(members)
            elapsed = [state.elapsed_s for state in members.values() if state.elapsed_s is not None]
            source = "squeue" if any(state.source == "squeue" for state in members.values()) else "sacct"
            states[job_id] = JobState(job_id, array_state(members.values()), max(elapsed, default=None), source)
        elif job_id in known:
            states[job_id] = known[job_id]
        else:
            states[job_id] = JobState(job_id, "UNKNOWN", None, "none")
    return states


def _tasks_by_array(states: dict[str, JobState]) -> dict[str, dict[str, JobState]]:
    tasks: dict[str, dict[str, JobState]] = defaultdict(dict)
    for key, state in states.items():
        array_id, sep, _ = key.partition("_")
        if sep:
            tasks[array_id][key] = state
    return tasks


def _parse_max_array_size(config: str) -> int:
    """MaxArraySize from ``scontrol show config`` output."""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)\s*$", config, re.MULTILINE)
    if match is None:
        raise RunlabError("scontrol show config printed no MaxArraySize", hint="check the SLURM installation")
    return int(match.group(1))


def _all_ended(states: Iterable[JobState]) -> bool:
    return not any(state.state in _ACTIVE or state.state in _WAITING for state in states)


def _rows(text: str, tool: str) -> list[list[str]]:
    rows = [line.split("|") for line in text.splitlines() if line.strip()]
    for row in rows:
        if len(row) != 3:
            line = "|".join(row)
            raise RunlabError(f"unexpected {tool} output line: {line!r}", hint="runlab expects SLURM 22.05 or newer")
    return rows


def _expand_tasks(job_id: str) -> list[str]:
    """``"123_[1-3,7%2]"`` (unstarted tasks as sacct shows them) -> ``["123_1", "123_2", "123_3", "123_7"]``."""
    match = _COLLAPSED_TASKS.fullmatch(job_id)
    if match is None:
        return [job_id]
    array_id, ranges = match.groups()
    keys = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        keys.extend(f"{array_id}_{index}" for index in range(int(first), int(last or first) + 1))
    return keys


def _duration_s(text: str) -> int | None:
    """squeue's ``[days-][hours:]minutes:seconds`` in seconds; None for anything else."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no message"
