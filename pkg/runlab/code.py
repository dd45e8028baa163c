"""Code fingerprints: which source produced a run, so that a change to it is visible.

A package's fingerprint is the sha256 over its ``.py`` files (relative path and content, in path
order), found without importing it. A run's ``code`` block holds the fingerprints of runlab and of
the packages its stage runs, and the git commit (``-dirty`` when tracked files differ) of the
repository that holds each package, where there is one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["changed_packages", "code_block", "git_commit", "package_fingerprint"]


def package_fingerprint(name: str) -> str | None:
    """sha256 of the source of top-level package (or module) ``name`` as it is on disk now; None if not found."""
    folder = _source_folder(name)
    if folder is None:
        return None
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder]
    stats = tuple((path, path.stat().st_mtime_ns, path.stat().st_size) for path in files)
    return _fingerprint(folder, stats)


@lru_cache(maxsize=64)
def _fingerprint(folder: Path, stats: tuple[tuple[Path, int, int], ...]) -> str:
    """The fingerprint of files whose paths, mtimes and sizes are ``stats`` (cached until one of them changes)."""
    digest = hashlib.sha256()
    for path, _, _ in stats:
        relative = path.relative_to(folder).as_posix() if folder.is_dir() else path.name
        digest.update(relative.encode("utf-8") + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def code_block(packages: Iterable[str]) -> dict[str, Any]:
    """The record's ``code``: fingerprints of runlab and ``packages``, and the git commit of each one's repository."""
    names = sorted({"runlab", *packages})
    fingerprints = {name: package_fingerprint(name) for name in names}
    commits = {name: git_commit(folder.parent)
               for name in names if (folder := _source_folder(name)) is not None}
    return {"packages": fingerprints, "git_commits": commits}


def changed_packages(record: Mapping[str, Any], current: dict[str, str | None] | None = None) -> list[str]:
    """Packages whose source differs now from what produced the run of ``record`` (none when unknown).

    ``current`` caches the fingerprints found now, by package, across many records (a table of runs).
    """
    seen = {} if current is None else current
    recorded = (record.get("code") or {}).get("packages") or {}
    changed = []
    for name, fingerprint in sorted(recorded.items()):
        if name not in seen:
            seen[name] = package_fingerprint(name)
        if fingerprint is not None and seen[name] not in (None, fingerprint):
            changed.append(name)
    return changed


@lru_cache(maxsize=None)
def git_commit(folder: Path) -> str | None:
    """HEAD of the git repository that holds ``folder``, with ``-dirty`` when tracked files changed; None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


@lru_cache(maxsize=None)
def _source_folder(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve() if spec.origin and spec.origin.endswith(".py") else None
