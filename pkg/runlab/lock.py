"""Run locks that are safe on shared cluster filesystems and recover from dead holders.

What they rely on: exclusive file creation (``O_CREAT | O_EXCL``) and atomic rename being coherent
across the nodes that share the runs root. NFSv3 and later and Lustre give both; ``fcntl``/``flock``
locks are not used, because Lustre mounted without ``-o flock`` refuses them and ``-o localflock``
makes them node-local, which would silently let two nodes hold one lock.

Each lock is a :class:`filelock.SoftFileLease`: its marker names the holder's host, pid and process
start time, and a heartbeat thread refreshes it. A contender breaks a marker when its holder is
provably dead on the same host, or when it has seen no heartbeat for ``lease_s`` seconds of its own
monotonic clock (a holder on another node that died). All contenders of one runs root must use the
same lease, so it is a constant of the store.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import SoftFileLease, Timeout

from .errors import RunlabError

__all__ = ["DEFAULT_LEASE_S", "DEFAULT_WAIT_S", "held_lock"]

DEFAULT_LEASE_S = 60.0
DEFAULT_WAIT_S = 300.0


@contextmanager
def held_lock(path: Path, *, what: str, lease_s: float = DEFAULT_LEASE_S, wait_s: float = DEFAULT_WAIT_S) -> Iterator[None]:
    """Hold the lease at ``path`` for the body; ``what`` names the guarded thing in errors."""
    lease = SoftFileLease(str(path), lease_duration=lease_s, timeout=wait_s, poll_interval=0.02)
    try:
        lease.acquire()
    except Timeout as exc:
        raise RunlabError(
            f"{what} is locked ({exc}) and stayed locked for {wait_s:.0f} s",
            f"wait for the holder to finish; a dead holder's lock is broken after {lease_s:.0f} s without heartbeat",
        ) from exc
    try:
        yield
    finally:
        lease.release()
