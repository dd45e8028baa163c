"""``runlab verify``: rehash every artifact of a run, check its record, identity and id, and every edge of
its lineage (each upstream run complete, with the artifact digest this run recorded when it read it).

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

from .config import ResolvedConfig, resolved_from_bytes
from .errors import ConfigError, RunlabError
from .layout import ARTIFACT_DIRS, CONFIG_NAME, STUDY_CONFIG_NAME, is_runtime_log
from .manifest import import_callable
from .record import RECORD_NAME, artifact_digest, read_record
from .run_id import content_hash_run_id
from .store import RunStore, sha256_file

__all__ = ["artifact_problem", "lineage_problems", "verifier_to_run", "verify_run"]


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
    problems += lineage_problems(store, record)
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
    """The identity (``config_resolved.yaml``) against the record and the run id, and the study config beside it."""
    try:
        identity = _stored(run_dir, CONFIG_NAME, record["config_hash"])
        _stored(run_dir, STUDY_CONFIG_NAME, record["study_config_hash"])
    except _Unreadable as exc:
        return [str(exc)]
    expected = {"study": record["study"], "version": record["stage_version"], "reads": record["reads"],
                "array": record["array"]["size"] if record["array"] else None,
                "upstream": record["upstream_run_ids"]}
    differing = [key for key, value in expected.items() if identity.data.get(key) != value]
    if differing:
        return [f"{CONFIG_NAME}: its {', '.join(differing)} differ from the record"]
    if record["run_id_mode"] == "content_hash":
        expected_id = content_hash_run_id(identity.yaml_bytes, record["stage_tag"])
        if expected_id != record["run_id"]:
            return [f"run id {record['run_id']} does not match its identity (expected {expected_id})"]
    return []


class _Unreadable(Exception):
    pass


def _stored(run_dir: Path, name: str, sha256: str) -> ResolvedConfig:
    path = run_dir / name
    if path.is_symlink() or not path.is_file():
        raise _Unreadable(f"{name}: missing")
    try:
        config = resolved_from_bytes(path.read_bytes(), str(path))
    except RunlabError as exc:
        raise _Unreadable(f"{name}: {exc.message}") from exc
    if config.sha256 != sha256:
        raise _Unreadable(f"{name}: sha256 {config.sha256[:12]} differs from the record's {sha256[:12]}")
    return config


def lineage_problems(store: RunStore, record: Mapping[str, Any]) -> list[str]:
    """One line per broken upstream edge: an upstream run that is missing, not complete, or whose artifacts
    no longer match the digest this run recorded when it read them."""
    problems = []
    for tag, upstream_id in sorted(record["upstream_run_ids"].items()):
        recorded = record["upstream_digests"].get(upstream_id)
        try:
            upstream = store.read_record(upstream_id)
        except RunlabError as exc:
            problems.append(f"upstream {upstream_id} ({tag}) is unreadable: {exc.message}")
            continue
        if upstream is None:
            problems.append(f"upstream {upstream_id} ({tag}) is missing")
        elif upstream["stage_status"] != "complete":
            problems.append(f"upstream {upstream_id} ({tag}) is {upstream['stage_status']}, not complete")
        elif recorded is None:
            problems.append(f"upstream {upstream_id} ({tag}) has no recorded digest")
        elif artifact_digest(upstream) != recorded:
            problems.append(f"upstream {upstream_id} ({tag}) changed since this run read it "
                            f"(artifact digest {artifact_digest(upstream)[:12]}, recorded {recorded[:12]})")
    return problems


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
    logs_indexed_yet = record["stage_status"] == "complete"  # the runtime's logs join the index on completion
    for folder in ARTIFACT_DIRS:
        for path in sorted((run_dir / folder).rglob("*")):
            relative = path.relative_to(run_dir).as_posix()
            if (path.is_file() and relative not in indexed and not path.name.startswith(".")
                    and (logs_indexed_yet or not is_runtime_log(relative))):
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
