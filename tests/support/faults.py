"""Faults injected into real runs: a stage killed once it has written a given artifact."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.support.cli import REPO, cli_environment


def indexed_artifacts(runs_root: Path, stage_tag: str, prefix: str) -> int:
    """How many artifacts under ``prefix`` the record of the ``stage_tag`` run indexes now (0 before the run
    exists, or while its record is being replaced): what a killed run keeps, as a test watching it sees."""
    for path in runs_root.glob(f"RUN_{stage_tag}_*/run_record.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return 0
        return sum(entry["relative_path"].startswith(prefix) for entry in record["artifact_index"])
    return 0


def kill_once_indexed(command: list[str], runs_root: Path, stage_tag: str, prefix: str) -> int:
    """Start ``command`` from the repo root, kill it as soon as the ``stage_tag`` run indexes an artifact
    under ``prefix`` (or after 120 s), and return how many such artifacts the killed run kept."""
    process = subprocess.Popen(command, cwd=REPO, env=cli_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not indexed_artifacts(runs_root, stage_tag, prefix) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.kill()
    process.wait()
    return indexed_artifacts(runs_root, stage_tag, prefix)
