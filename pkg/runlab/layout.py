"""Names inside a runs root and inside a run directory, and the checks on artifact paths."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .errors import ConfigError, SchemaError

__all__ = [
    "ARTIFACT_DIRS",
    "CHECKPOINT_DIR",
    "CONFIG_NAME",
    "STUDY_CONFIG_NAME",
    "INTERNAL_DIR",
    "assert_no_symlinks",
    "validate_artifact_path",
]

CONFIG_NAME = "config_resolved.yaml"  # the stage's identity bytes (see identity.py)
STUDY_CONFIG_NAME = "config_study.yaml"  # the whole resolved study config of the submission that made the run
ARTIFACT_DIRS = ("results", "tables", "figs", "logs", "data")
CHECKPOINT_DIR = ".checkpoint"  # runtime-owned resume state, not an artifact
INTERNAL_DIR = ".runlab"  # in the runs root: locks, submission claims, scheduler logs
_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def validate_artifact_path(relative_path: str) -> str:
    """Return ``relative_path`` if it is ``<artifact dir>/<name>[/<name>...]`` with safe names."""
    parts = relative_path.split("/") if isinstance(relative_path, str) else []
    if len(parts) < 2 or parts[0] not in ARTIFACT_DIRS or not all(_PART_RE.fullmatch(part) for part in parts[1:]):
        raise ConfigError(
            f"invalid artifact path {relative_path!r}",
            f"use <{'|'.join(ARTIFACT_DIRS)}>/<name> with letters, digits, '.', '_' and '-' (no '..', no absolute paths)",
        )
    return relative_path


def assert_no_symlinks(run_dir: Path, relative_path: str) -> None:
    """Raise SchemaError if ``run_dir`` or any existing component of ``relative_path`` below it is a symlink."""
    current = Path(run_dir)
    for part in ("", *relative_path.split("/")):
        current = current / part if part else current
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise SchemaError(f"{current} is a symbolic link inside a run directory", "remove it; runs hold real files only")
