"""The files of a run that the monitor serves, and nothing else.

A run's servable files are its ``run_record.json``, its ``config_resolved.yaml`` (identity), its
``config_study.yaml`` and the artifacts its record indexes. A name is looked up, never joined blindly: a run id must be well formed, an artifact
must be in the run's ``artifact_index`` with a valid artifact path, no component below the runs root
may be a symbolic link, and the real path must lie inside the run directory, which must lie inside
the runs root. Anything else is :class:`NotServable` (the app answers 404).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from starlette.exceptions import HTTPException

from ..errors import RunlabError
from ..layout import ATTEMPTS_DIR, CONFIG_NAME, EVENTS_PATH, STUDY_CONFIG_NAME, validate_artifact_path
from ..logview import attempts
from ..record import RECORD_NAME
from ..run_id import validate_run_id
from .records import UnreadableRecord, load_record

__all__ = ["NotServable", "RunFiles", "content_type", "open_or_404"]

_CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".yaml": "application/yaml",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".parquet": "application/vnd.apache.parquet",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".npy": "application/octet-stream",
}


class NotServable(Exception):
    """A requested run or file that the monitor does not serve; ``reason`` says why (for the 404 page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def content_type(relative_path: str) -> str:
    """Media type of a served file by its suffix (``application/octet-stream`` when unknown)."""
    return _CONTENT_TYPES.get(Path(relative_path).suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class RunFiles:
    """One run's directory, its validated record, and the lookup of its servable files."""

    root: Path
    run_id: str
    dir: Path
    record: Mapping[str, Any]

    @classmethod
    def open(cls, root: Path, run_id: str) -> "RunFiles":
        """The run ``run_id`` under ``root`` (NotServable if the id is malformed, absent or linked, or its record
        unreadable: see ``records.py``)."""
        try:
            validate_run_id(run_id)
        except RunlabError as exc:
            raise NotServable(exc.message) from exc
        real_root = Path(os.path.realpath(root))
        run_dir = real_root / run_id
        _require_real_directory(run_dir)
        if Path(os.path.realpath(run_dir)).parent != real_root:
            raise NotServable(f"run {run_id} is not inside the runs root")
        try:
            record = load_record(run_dir)
        except UnreadableRecord as exc:
            raise NotServable(f"unreadable record: {exc.reason}") from exc
        return cls(real_root, run_id, run_dir, record)

    @property
    def artifacts(self) -> dict[str, Mapping[str, Any]]:
        """Index entries of the run's artifacts by relative path."""
        return {entry["relative_path"]: entry for entry in self.record["artifact_index"]}

    def path(self, relative_path: str) -> Path:
        """Real path of a servable file of this run (NotServable for anything else)."""
        if relative_path not in (RECORD_NAME, CONFIG_NAME, STUDY_CONFIG_NAME):
            if relative_path not in self.artifacts:
                raise NotServable(f"run {self.run_id} has no artifact {relative_path!r}")
            try:
                validate_artifact_path(relative_path)
            except RunlabError as exc:
                raise NotServable(exc.message) from exc
        current = self.dir
        for part in relative_path.split("/")[:-1]:
            current = current / part
            _require_real_directory(current)
        target = current / relative_path.split("/")[-1]
        _require_regular_file(target)
        real = Path(os.path.realpath(target))
        if not real.is_relative_to(Path(os.path.realpath(self.dir))):
            raise NotServable(f"{relative_path} of run {self.run_id} is outside its run directory")
        return real

    def output_tail(self, max_lines: int = 40, max_bytes: int = 1 << 16) -> list[tuple[str, str]]:
        """The last ``max_lines`` lines (of at most the last ``max_bytes``) of the newest attempt's stdout and
        stderr, as ``(file name, text)``: what a running run prints now. Links are not followed."""
        try:
            for folder in ("logs", ATTEMPTS_DIR):
                _require_real_directory(self.dir / folder)
            _require_regular_file(self.dir / EVENTS_PATH)
        except NotServable:
            return []
        started = attempts(self.dir)
        if not started:
            return []
        tails = []
        for path in started[-1].files(self.dir):
            try:
                _require_regular_file(path)
                with open(path, "rb") as handle:
                    handle.seek(max(0, handle.seek(0, os.SEEK_END) - max_bytes))
                    text = handle.read().decode("utf-8", errors="replace")
            except (NotServable, OSError):
                continue
            tails.append((path.name, "\n".join(text.splitlines()[-max_lines:])))
        return tails

    def config_text(self) -> str:
        """``config_resolved.yaml`` as text."""
        return self.path(CONFIG_NAME).read_text(encoding="utf-8", errors="replace")

    def record_text(self) -> str:
        """The record, pretty-printed JSON."""
        return json.dumps(self.record, indent=2, ensure_ascii=False)


def open_or_404(root: Path, run_id: str) -> RunFiles:
    """``RunFiles.open`` for a request: an HTTP 404 saying why for a run that is not served."""
    try:
        return RunFiles.open(root, run_id)
    except NotServable as exc:
        raise HTTPException(404, exc.reason) from exc


def _require_real_directory(path: Path) -> None:
    _require_kind(path, stat.S_ISDIR, "a directory")


def _require_regular_file(path: Path) -> None:
    _require_kind(path, stat.S_ISREG, "a regular file")


def _require_kind(path: Path, is_kind: Callable[[int], bool], kind: str) -> None:
    """NotServable unless ``path`` itself (not what a symbolic link there points to) is of ``kind``."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        raise NotServable(f"{path.name} does not exist") from exc
    if not is_kind(mode):
        raise NotServable(f"{path.name} is not {kind} (symbolic links are not followed)")
