"""Progress of a long stage: a bar with ETA on a terminal, plain lines in the attempt's log, and ``progress``
events in the run's event log, which ``runlab status`` and the monitor read (done / total and ETA).

A stage reports through its run: ``for gain in run.track(gains, unit="gain"): ...``, or
``with run.progress(total, unit="epoch") as progress: ... progress.advance()``. The bar is tqdm's, drawn on
the terminal only (never into the log); log lines and events are spaced at least ``interval_s`` apart, plus
one at the end, so a long sweep adds a few lines, not one per step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from . import capture
from .eventlog import append_event

__all__ = ["Progress", "eta_s", "format_duration", "tracked"]

T = TypeVar("T")
_INTERVAL_S = 10.0


class Progress:
    """Counts ``done`` of ``total`` steps of ``unit`` for one part of a run (``part``: "stage", "task-0003")."""

    def __init__(self, run_dir: Path, run_id: str, part: str, total: int, unit: str, *,
                 interval_s: float = _INTERVAL_S) -> None:
        if not isinstance(total, int) or total < 0:
            raise ValueError(f"progress total must be a non-negative int, got {total!r}")
        self.run_dir, self.run_id, self.part = run_dir, run_id, part
        self.total, self.unit, self.done = total, unit, 0
        self.interval_s = interval_s
        self._started = time.monotonic()
        self._reported = -float("inf")
        self._bar = _terminal_bar(f"{run_id} {part}", total, unit)

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps are done."""
        self.done = min(self.total, self.done + steps)
        if self._bar is not None:
            try:
                self._bar.update(steps)
            except OSError:  # the terminal went away (a closed pipe): the run goes on
                self._bar = None
        if time.monotonic() - self._reported >= self.interval_s or self.done == self.total:
            self._report()

    def close(self) -> None:
        if self._bar is not None:
            try:
                self._bar.close()
            except OSError:
                pass
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _report(self) -> None:
        self._reported = time.monotonic()
        elapsed_s = round(self._reported - self._started, 3)
        append_event(self.run_dir, "progress", part=self.part, done=self.done, total=self.total, unit=self.unit,
                     elapsed_s=elapsed_s)
        eta = eta_s(self.done, self.total, elapsed_s)
        capture.log_only(f"progress {self.run_id} {self.part}: {self.done}/{self.total} {self.unit}"
                         + ("" if eta is None else f", eta {format_duration(eta)}"))


def tracked(progress: Progress, items: Iterable[T]) -> Iterator[T]:
    """Yield ``items``, advancing ``progress`` after each, and close it at the end."""
    with progress:
        for item in items:
            yield item
            progress.advance()


def eta_s(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the mean rate so far (None before the first step is done)."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, (total - done) * elapsed_s / done)


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1m15s"``; ``4000`` -> ``"1h06m"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _terminal_bar(description: str, total: int, unit: str) -> Any:
    stream = capture.terminal()
    if stream is None:
        return None
    from tqdm import tqdm  # only when a terminal shows it

    return tqdm(total=total, unit=f" {unit}", desc=description, file=stream, mininterval=0.5, leave=False,
                dynamic_ncols=True)
