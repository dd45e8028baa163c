"""Whether the process holding something (a claim, a run) is alive: the one home of that question.

A :class:`Holder` is a process (host, pid, the pid's start time) and the wall-clock time of its last
heartbeat. On its own host a holder is alive while its pid exists and still has the start time it had
when recorded, so a pid the kernel gave to another process reads as dead. A holder on another host
cannot be probed: it is alive while its heartbeat is younger than the lease. This is filelock's
``SoftFileLease`` rule (its marker records host, pid and start token and is refreshed by a thread),
applied to a heartbeat that a one-shot reader such as ``runlab status`` can judge from a single look:
the heartbeat is a file's mtime (see :class:`Heartbeat`), compared with this machine's clock, so
clocks that differ by more than ``lease_s`` minus the heartbeat interval would break a live holder.

The start time comes from ``/proc/<pid>/stat`` (Linux). Elsewhere it is unknown (None), and a holder
on this host is then alive while its pid exists: a reused pid keeps it alive, never the reverse. The
host is `record.host_name`; two containers that share it but not their PID namespace are not told
apart (Apptainer, as SLURM jobs use it, shares both with the host).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .record import host_name

__all__ = ["Heartbeat", "Holder", "dead_reason", "is_alive", "process_start_time"]

# starttime is field 22 of /proc/<pid>/stat; the fields after comm's closing ')' start at field 3.
_STARTTIME_AFTER_COMM = 22 - 3


@dataclass(frozen=True)
class Holder:
    """A process holding something: ``start_ticks`` is `process_start_time` of ``pid`` when recorded (None:
    unknown), ``heartbeat_s`` the Unix time in seconds of its last heartbeat."""

    host: str
    pid: int
    start_ticks: int | None
    heartbeat_s: float

    @classmethod
    def this_process(cls) -> Holder:
        """This process, with a heartbeat now."""
        return cls(host_name(), os.getpid(), process_start_time(os.getpid()), time.time())


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22); None when the process is
    gone or the platform has no ``/proc`` (not Linux). Two processes that share a pid in turn differ in it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 1:].split()  # comm may hold spaces and ')'
    try:
        return int(fields[_STARTTIME_AFTER_COMM])
    except (IndexError, ValueError):
        return None


def dead_reason(holder: Holder, lease_s: float, now_s: float | None = None) -> str | None:
    """Why ``holder`` is dead (one phrase), or None while it is alive; ``now_s``: Unix time, default now."""
    if holder.host == host_name():
        if not _pid_exists(holder.pid):
            return f"pid {holder.pid} is gone from {holder.host}"
        start = process_start_time(holder.pid)
        if holder.start_ticks is not None and start is not None and start != holder.start_ticks:
            return f"pid {holder.pid} on {holder.host} is now another process"
        return None
    silent_s = (time.time() if now_s is None else now_s) - holder.heartbeat_s
    if silent_s >= lease_s:
        return f"no heartbeat from {holder.host} for {silent_s:.0f} s (lease {lease_s:.0f} s)"
    return None


def is_alive(holder: Holder, lease_s: float, now_s: float | None = None) -> bool:
    """Same host: its pid exists with the recorded start time; other host: a heartbeat within ``lease_s`` seconds
    before ``now_s`` (Unix time, default now)."""
    return dead_reason(holder, lease_s, now_s) is None


class Heartbeat:
    """A daemon thread that sets the mtime of each added file to now every ``interval_s`` seconds.

    A file is touched only while the path still names the inode it named when added: a file removed or
    replaced (atomic writes rename a new inode over it) is dropped, so a heartbeat never refreshes what
    another process wrote in its place. The thread runs while any file is held.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._held: dict[Path, tuple[int, int]] = {}  # path -> (st_dev, st_ino) when added
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, path: Path) -> None:
        """Refresh ``path`` (as it is now) from now on."""
        stat = path.stat()
        with self._guard:
            self._held[path] = (stat.st_dev, stat.st_ino)
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="runlab-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, path: Path) -> None:
        with self._guard:
            self._held.pop(path, None)

    @property
    def held(self) -> tuple[Path, ...]:
        """The files being refreshed, in the order added."""
        with self._guard:
            return tuple(self._held)

    def _beat(self) -> None:
        while True:
            time.sleep(self.interval_s)
            with self._guard:
                for path, identity in list(self._held.items()):
                    if not _touch_if_same(path, identity):
                        del self._held[path]
                if not self._held:
                    self._thread = None
                    return


def _touch_if_same(path: Path, identity: tuple[int, int]) -> bool:
    """Set ``path``'s mtime to now if it is still the inode ``identity``; whether it is (transient errors: True)."""
    try:
        stat = path.stat()
        if (stat.st_dev, stat.st_ino) != identity:
            return False
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # a shared filesystem's hiccup (ESTALE, EIO): try again next beat
    return True


def _pid_exists(pid: int) -> bool:
    if not 0 < pid < 2**31:
        return False  # 0 and negatives address process groups in kill(2); no pid is larger
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True
