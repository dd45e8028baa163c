"""``runlab rm`` and ``runlab gc``: remove runs, and clear what crashed or abandoned work leaves in a runs root.

Nothing that may still be worked on is touched: a run with a live holder (a live claim, or a live SLURM job
named in its started record) is refused by ``rm`` and skipped by ``gc``, and every removal happens under the
run's lock (see ``RunStore.remove_run_dir``). A complete run is removed only with ``force`` and only while no
other complete run depends on it, since verifying a dependant checks its upstream.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from .atomic import TEMP_SUFFIX
from .errors import ConfigError, RunlabError
from .layout import REMOVING_SUFFIX, STAGING_SUFFIX
from .holders import Holders
from .ledger import Claim, Ledger
from .record import RunRecord, parse_utc
from .store import RunStore, tree_bytes

__all__ = ["collect_garbage", "parse_age_s", "remove_runs"]

_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_AGE_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_age_s(text: str) -> float:
    """``"90"``, ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"`` in seconds; ConfigError otherwise."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"invalid age {text!r}", "write a number with an optional unit s, m, h or d, e.g. 7d")
    return float(match.group(1)) * _AGE_UNIT_S[match.group(2)]


def remove_runs(store: RunStore, texts: Sequence[str], *, force: bool, say: Callable[[str], None]) -> int:
    """``runlab rm``: remove the runs ``texts`` name (ids or unique prefixes); returns the bytes freed.

    All are checked before any is removed: ConfigError (exit 2) for a run that is being worked on, a complete
    (or unreadable) run without ``force``, or one that a complete run outside ``texts`` depends on.
    """
    run_ids = list(dict.fromkeys(store.find_run(text) for text in texts))
    records = {run_id: _readable_record(store, run_id) for run_id in run_ids}
    holders = Holders.of(store, records)
    dependants = _complete_dependants(store, exclude=set(run_ids))
    for run_id, record in records.items():
        _check_removable(store, run_id, record, holders, dependants.get(run_id, []), force=force)
    freed = 0
    for run_id in run_ids:
        with store.lock(run_id):  # checked again: a submitter may have come since
            record = _readable_record(store, run_id)
            _check_removable(store, run_id, record, holders, dependants.get(run_id, []), force=force)
            _release_dead_claim(store, holders.claims.get(run_id))
            removed = store.remove_run_dir(run_id)
        freed += removed
        say(f"removed {run_id} ({_status(record)}, {removed} bytes)")
    say(f"removed {len(run_ids)} run{'s' if len(run_ids) != 1 else ''}, {freed} bytes freed")
    return freed


def _check_removable(store: RunStore, run_id: str, record: RunRecord | None, holders: Holders,
                     dependants: Sequence[str], *, force: bool) -> None:
    claim = Ledger(store).read(run_id)
    if claim is not None and claim != holders.claims.get(run_id):
        raise ConfigError(f"run {run_id} was claimed by another submitter just now", "see `runlab status`")
    holder = holders.live(run_id, record)
    if holder is not None:
        raise ConfigError(f"run {run_id} is being worked on by {holder}", f"cancel it first: runlab cancel {run_id}")
    if record is not None and record["stage_status"] != "complete":
        return
    if not force:
        raise ConfigError(f"run {run_id} is {_status(record)}", "pass --force to remove a complete run")
    if dependants:
        raise ConfigError(f"complete runs depend on {run_id}: {', '.join(dependants)}",
                          "remove them first (or with it, in the same runlab rm)")


def _complete_dependants(store: RunStore, *, exclude: set[str]) -> dict[str, list[str]]:
    """Upstream run id -> the complete runs (outside ``exclude``) whose records name it upstream, sorted."""
    found: dict[str, list[str]] = {}
    for other in store.run_ids():
        record = None if other in exclude else _readable_record(store, other)
        if record is not None and record["stage_status"] == "complete":
            for upstream in set(record["upstream_run_ids"].values()):
                found.setdefault(upstream, []).append(other)
    return found


def _readable_record(store: RunStore, run_id: str) -> RunRecord | None:
    """The record of ``run_id``; None when it is unreadable (a damaged run, shown as such)."""
    try:
        return store.read_record(run_id)
    except RunlabError:
        return None


def _status(record: RunRecord | None) -> str:
    return "damaged: unreadable record" if record is None else record["stage_status"]


def _release_dead_claim(store: RunStore, claim: Claim | None) -> None:
    """Drop a run's claim, known dead (call under the run's lock)."""
    if claim is not None:
        Ledger(store).release(claim)


# -- gc -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Garbage:
    what: str  # the line printed for it
    bytes: int
    remove: Callable[[], bool]  # False when it turned out to be in use after all


def collect_garbage(store: RunStore, *, older_than_s: float | None, dry_run: bool,
                    say: Callable[[str], None]) -> int:
    """``runlab gc``: remove stale temporaries and half-made or half-removed run directories (untouched for the
    lock lease), dead claims, and with ``older_than_s`` failed runs whose last failure is older than that;
    returns the bytes freed (that would be, with ``dry_run``)."""
    now = time.time()
    run_ids = store.run_ids()
    records = {run_id: _readable_record(store, run_id) for run_id in run_ids}
    claimed_only = {claim.run_id: None for claim in Ledger(store).all() if claim.run_id not in records}
    holders = Holders.of(store, {**claimed_only, **records})
    idle = [run_id for run_id in run_ids if holders.live(run_id, records[run_id]) is None]
    garbage = [*_half_made_runs(store, now), *_stale_temporaries(store, idle, now),
               *_dead_claims(store, holders, records)]
    if older_than_s is not None:
        garbage += _old_failed_runs(store, idle, records, now - older_than_s)
    freed = 0
    for item in garbage:
        if dry_run:
            say(f"would remove {item.what} ({item.bytes} bytes)")
            freed += item.bytes
        elif item.remove():
            say(f"removed {item.what} ({item.bytes} bytes)")
            freed += item.bytes
    say(f"{'would free' if dry_run else 'freed'} {freed} bytes ({len(garbage)} item{'s' if len(garbage) != 1 else ''})")
    return freed


def _untouched_since(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _half_made_runs(store: RunStore, now: float) -> Iterable[_Garbage]:
    """Run directories a killed process left while creating or removing them (hidden names in the root)."""
    if not store.root.is_dir():
        return
    for path in sorted(store.root.iterdir()):
        if (path.name.startswith(".RUN_") and path.name.endswith((STAGING_SUFFIX, REMOVING_SUFFIX))
                and path.is_dir() and not path.is_symlink() and _untouched_since(path, now - store.lease_s)):
            yield _Garbage(f"half-made run directory {path.name}", tree_bytes(path), lambda path=path: _rmtree(path))


def _rmtree(path: Path) -> bool:
    shutil.rmtree(path, ignore_errors=True)
    return True


def _stale_temporaries(store: RunStore, idle: Sequence[str], now: float) -> Iterable[_Garbage]:
    """Atomic-write temporaries of killed writers: in runs nobody works on, and beside the claims."""
    cutoff = now - store.lease_s
    folders = [(run_id, store.run_dir(run_id)) for run_id in idle] + [(None, Ledger(store).folder)]
    for run_id, folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob(f".*{TEMP_SUFFIX}")):
            if path.is_file() and not path.is_symlink() and _untouched_since(path, cutoff):
                yield _Garbage(f"temporary {path.relative_to(store.root)}", path.lstat().st_size,
                               lambda path=path, run_id=run_id: _unlink_under_lock(store, run_id, path))


def _unlink_under_lock(store: RunStore, run_id: str | None, path: Path) -> bool:
    if run_id is None:
        path.unlink(missing_ok=True)
        return True
    with store.lock(run_id):
        path.unlink(missing_ok=True)
    return True


def _dead_claims(store: RunStore, holders: Holders, records: Mapping[str, RunRecord | None]) -> Iterable[_Garbage]:
    ledger = Ledger(store)
    for run_id, claim in sorted(holders.claims.items()):
        if ledger.is_live(claim, holders.states):
            continue
        path = ledger.folder / f"{run_id}.json"

        def release(claim: Claim = claim) -> bool:
            with store.lock(claim.run_id):
                if ledger.read(claim.run_id) != claim:
                    return False  # another submitter claimed the run since
                ledger.release(claim)
            return True

        yield _Garbage(f"dead claim of {run_id} ({claim.describe()})", tree_bytes(path), release)


def _old_failed_runs(store: RunStore, idle: Sequence[str], records: Mapping[str, RunRecord | None],
                     cutoff_s: float) -> Iterable[_Garbage]:
    for run_id in idle:
        record = records[run_id]
        if record is None or record["stage_status"] != "failed":
            continue
        failed_utc = (record["error"] or {}).get("utc") or record["timings"]["started_utc"]
        failed_at = parse_utc(failed_utc).timestamp()
        if failed_at >= cutoff_s:
            continue

        def remove(run_id: str = run_id) -> bool:
            with store.lock(run_id):
                now = _readable_record(store, run_id)
                ledger = Ledger(store)
                claim = ledger.read(run_id)
                if now is None or now["stage_status"] != "failed" or (claim is not None and ledger.is_live(claim, {})):
                    return False  # resumed, or claimed again, since the scan
                store.remove_run_dir(run_id)
            return True

        yield _Garbage(f"failed run {run_id}, failed {failed_utc}", tree_bytes(store.run_dir(run_id)), remove)
