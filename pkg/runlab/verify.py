"""``runlab verify``: rehash every artifact of a run and check its record, config and id.

A complete run whose record names a ``verifier`` (the manifest stage's ``verify``) that checks out so
far is then handed to it: ``verifier(view) -> list[str]`` recomputes what hashing cannot check (a
result against the upstream runs it came from, a certificate against its data) and returns problem
lines, empty when the run is right.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Mapping

from .config import resolved_from_bytes
from .errors import ConfigError, RunlabError
from .layout import ARTIFACT_DIRS, CONFIG_NAME
from .manifest import import_callable
from .record import RECORD_NAME, read_record
from .run_id import content_hash_run_id
from .store import RunStore, sha256_file

__all__ = ["artifact_problem", "verifier_to_run", "verify_run"]


def verify_run(store: RunStore, run_id: str, *, recompute: bool = True) -> list[str]:
    """Problems found in run ``run_id`` (empty when it checks out): one line each.

    With ``recompute``, a run that checks out is also handed to its record's verifier (see
    :func:`verifier_to_run`); its problem lines follow, a RunlabError it raises becomes one line, and
    any other exception propagates.
    """
    run_dir = store.run_dir(run_id)
    if not run_dir.is_dir() or run_dir.is_symlink():
        return [f"{run_id}: no run directory under {store.root}"]
    problems = [f"{path.relative_to(run_dir)}: symbolic link" for path in _symlinks(run_dir)]
    try:
        record = read_record(run_dir)
    except RunlabError as exc:
        return problems + [exc.message]
    if record["run_id"] != run_id:
        problems.append(f"{RECORD_NAME}: names run {record['run_id']}, not {run_id}")
    problems += _check_config(run_dir, record)
    problems += _check_artifacts(run_dir, record)
    verifier = verifier_to_run(record)
    if recompute and not problems and verifier is not None:
        problems += _recompute(store, record, verifier)
    return problems


def verifier_to_run(record: Mapping[str, Any]) -> str | None:
    """The verifier ``runlab verify`` hands this run to: the record's, for a complete run; else None."""
    return record["verifier"] if record["stage_status"] == "complete" else None


def _recompute(store: RunStore, record: Mapping[str, Any], reference: str) -> list[str]:
    from .run import RunView  # the stage-side module (numpy, pyarrow) loads only when a verifier runs

    verifier = import_callable(reference, "verifier",
                               "make its package importable where runlab verify runs (install it or set PYTHONPATH)")
    try:
        problems = verifier(RunView(store, record["run_id"], record))
    except RunlabError as exc:
        return [exc.message]
    if not isinstance(problems, list) or not all(isinstance(problem, str) for problem in problems):
        raise ConfigError(f"verifier {reference} returned {type(problems).__name__}, not a list of problem lines",
                          "return [] when the run checks out, else one str per problem")
    return problems


def _check_config(run_dir: Path, record: dict) -> list[str]:
    path = run_dir / CONFIG_NAME
    if path.is_symlink() or not path.is_file():
        return [f"{CONFIG_NAME}: missing"]
    try:
        config = resolved_from_bytes(path.read_bytes(), str(path))
    except RunlabError as exc:
        return [f"{CONFIG_NAME}: {exc.message}"]
    if config.sha256 != record["config_hash"]:
        return [f"{CONFIG_NAME}: sha256 {config.sha256[:12]} differs from config_hash {record['config_hash'][:12]}"]
    if record["run_id_mode"] == "content_hash":
        expected = content_hash_run_id(config.yaml_bytes, record["stage_tag"])
        if expected != record["run_id"]:
            return [f"run id {record['run_id']} does not match its config (expected {expected})"]
    return []


def artifact_problem(run_dir: Path, entry: Mapping[str, Any]) -> str | None:
    """What is wrong with one indexed artifact on disk (missing, size, sha256), or None if it checks out."""
    relative = entry["relative_path"]
    path = run_dir / relative
    if path.is_symlink() or not path.is_file():
        return f"{relative}: missing"
    if path.stat().st_size != entry["bytes"]:
        return f"{relative}: {path.stat().st_size} bytes, recorded {entry['bytes']}"
    if sha256_file(path) != entry["sha256"]:
        return f"{relative}: sha256 differs from the record"
    return None


def _check_artifacts(run_dir: Path, record: dict) -> list[str]:
    problems = []
    indexed = set()
    for entry in record["artifact_index"]:
        indexed.add(entry["relative_path"])
        problem = artifact_problem(run_dir, entry)
        if problem is not None:
            problems.append(problem)
    for folder in ARTIFACT_DIRS:
        for path in sorted((run_dir / folder).rglob("*")):
            relative = path.relative_to(run_dir).as_posix()
            if path.is_file() and relative not in indexed and not path.name.startswith("."):
                problems.append(f"{relative}: not in the artifact index")
    return problems


def _symlinks(run_dir: Path) -> list[Path]:
    found = []
    for folder, directories, files in os.walk(run_dir):
        for name in (*directories, *files):
            path = Path(folder) / name
            if stat.S_ISLNK(os.lstat(path).st_mode):
                found.append(path)
    return sorted(found)
