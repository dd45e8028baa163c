"""Atomic file writes: a temporary file in the same folder, fsync, rename, fsync of the folder.

A reader sees either the old file or the whole new one, never a torn write, even if the writer is
killed with SIGKILL mid-write; what a killed writer leaves is at most a ``.*.tmp`` file, which
``remove_stale_temporaries`` clears when the run is resumed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "atomic_write_bytes", "commit_temporary", "remove_stale_temporaries", "write_temporary"]

TEMP_SUFFIX = ".tmp"


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` by ``data`` atomically and durably; its folder must exist."""
    temporary = write_temporary(path, data, mode)
    try:
        commit_temporary(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_temporary(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Write and fsync ``data`` to a fresh hidden temporary beside ``path``; returns the temporary's path."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def commit_temporary(temporary: Path, path: Path) -> None:
    """Rename a temporary from :func:`write_temporary` onto ``path`` and fsync the folder."""
    os.replace(temporary, path)
    _fsync_directory(Path(path).parent)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete leftover temporaries of killed writers below ``folder``; returns what was removed."""
    removed = []
    for candidate in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if candidate.is_file() and not candidate.is_symlink():
            candidate.unlink()
            removed.append(candidate)
    return removed


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
