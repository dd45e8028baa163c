"""A run directory's artifacts as bytes and as the hashes its record indexes: what a stage computed, so the
runtime's own logs (events, attempt output: they differ between equal runs) are left out."""

from __future__ import annotations

import json
from pathlib import Path

from runlab.layout import is_runtime_log


def artifact_bytes(run_dir: Path) -> dict[str, bytes]:
    """Every artifact file of a run directory by relative path (record, config and checkpoints left out)."""
    return {
        path.relative_to(run_dir).as_posix(): path.read_bytes()
        for folder in ("results", "tables", "figs", "logs", "data")
        for path in sorted((run_dir / folder).rglob("*"))
        if path.is_file() and not is_runtime_log(path.relative_to(run_dir).as_posix())
    }


def artifact_hashes(run_dir: Path) -> dict[str, str]:
    """sha256 of every artifact by relative path, as the run's record indexes them."""
    record = json.loads((run_dir / "run_record.json").read_text())
    return {entry["relative_path"]: entry["sha256"] for entry in record["artifact_index"]
            if not is_runtime_log(entry["relative_path"])}
