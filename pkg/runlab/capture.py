"""The stdout and stderr of one attempt, kept in the run while still shown where they went before.

:func:`captured_output` points file descriptors 1 and 2 at pipes for the body: whatever writes to them (Python,
C extensions, child processes) lands in the attempt's ``.out``/``.err`` files and, as before, on the terminal
or in the SLURM job's own output files. A closed terminal (``runlab submit … | head``) only stops the copy to
the terminal: the stage goes on and its log stays whole. While output is captured, :func:`terminal` gives the
stream a progress bar draws on (the real terminal, never the log), and :func:`log_only` writes a line into the
attempt's stderr file alone.
"""

from __future__ import annotations

import contextvars
import errno
import io
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

__all__ = ["captured_output", "log_only", "terminal", "tolerate_closed_pipes"]

_JOIN_S = 5.0  # a child process that outlives the stage keeps a pipe open; its later output is not kept


class _Copier(threading.Thread):
    """Copies a pipe into a log file and to the descriptor it replaced, until the pipe's writers close it."""

    def __init__(self, pipe: int, log: int, shown: int) -> None:
        super().__init__(daemon=True)
        self.pipe, self.log, self.shown = pipe, log, shown
        self.shown_open = True

    def run(self) -> None:
        while block := os.read(self.pipe, 1 << 16):
            os.write(self.log, block)
            if self.shown_open:
                self.shown_open = _write_all(self.shown, block)
        os.close(self.pipe)


@dataclass
class _Capture:
    stderr_log: int
    terminal: TextIO | None


_current: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar("runlab_capture", default=None)


@contextmanager
def captured_output(stdout_path: Path, stderr_path: Path) -> Iterator[None]:
    """Copy descriptors 1 and 2 into ``stdout_path`` and ``stderr_path`` (created, appended) for the body; a
file left empty is removed."""
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    _flush_python_streams()
    saved, copiers, logs = [], [], []
    try:
        for descriptor, path in ((1, stdout_path), (2, stderr_path)):
            log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
            logs.append(log)
            shown = os.dup(descriptor)
            saved.append(shown)
            read_end, write_end = os.pipe()
            os.dup2(write_end, descriptor)
            os.close(write_end)
            copier = _Copier(read_end, log, shown)
            copier.start()
            copiers.append(copier)
        shown_stderr = os.fdopen(os.dup(saved[1]), "w", buffering=1, errors="replace")
        token = _current.set(_Capture(logs[1], shown_stderr if shown_stderr.isatty() else None))
        try:
            yield
        finally:
            _current.reset(token)
            _flush_python_streams()
            _close_quietly(shown_stderr)
    finally:
        for descriptor, shown in zip((1, 2), saved):
            os.dup2(shown, descriptor)  # closes the pipe's write end: its copier sees the end
        for copier in copiers:
            copier.join(_JOIN_S)
        for handle in (*saved, *logs):
            os.close(handle)
        for path in (stdout_path, stderr_path):
            if path.is_file() and path.stat().st_size == 0:
                path.unlink()  # an attempt that printed nothing there keeps no empty file


class _ClosedPipeTolerant:
    """A text stream that, once its reader is gone, sends the rest to /dev/null instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
        self._stream.flush()  # what the buffer held goes to /dev/null now

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


@contextmanager
def tolerate_closed_pipes() -> Iterator[None]:
    """For the body, writing to a stdout or stderr whose reader has gone (``runlab status | head``) is not an
    error: the rest of the output is dropped and the command finishes its work."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (_ClosedPipeTolerant(stream) if _has_descriptor(stream) else stream  # type: ignore[assignment]
                              for stream in saved)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved


def terminal() -> TextIO | None:
    """The terminal the captured stderr went to, when it is one (for a progress bar); None otherwise."""
    capture = _current.get()
    if capture is None:
        return sys.stderr if _is_terminal(sys.stderr) else None
    return capture.terminal


def log_only(line: str) -> None:
    """Write ``line`` to the attempt's stderr file alone (to stderr when nothing is captured)."""
    capture = _current.get()
    if capture is None:
        print(line, file=sys.stderr, flush=True)
        return
    os.write(capture.stderr_log, (line.rstrip("\n") + "\n").encode("utf-8", errors="replace"))


def _write_all(descriptor: int, block: bytes) -> bool:
    """Write ``block`` to ``descriptor``; False once the reader is gone (a closed pipe, a vanished terminal)."""
    try:
        while block:
            block = block[os.write(descriptor, block):]
    except OSError as exc:
        if exc.errno in (errno.EPIPE, errno.EIO, errno.EBADF):
            return False
        raise
    return True


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # a closed pipe or a replaced stream: nothing to keep


def _close_quietly(stream: TextIO) -> None:
    try:
        stream.close()
    except OSError:
        pass


def _has_descriptor(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (ValueError, AttributeError, io.UnsupportedOperation, OSError):
        return False
    return True


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, AttributeError, io.UnsupportedOperation):
        return False
