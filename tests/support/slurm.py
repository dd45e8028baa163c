"""Waiting on runs that SLURM jobs complete."""

from __future__ import annotations

import json
import time
from pathlib import Path


def wait_complete(runs_root: Path, tag: str, timeout_s: float = 240) -> dict:
    """The record of the run of stage ``tag`` under ``runs_root`` once a SLURM job completes it; fails the
    test on a failed run, or after ``timeout_s`` with the tail of the jobs' error logs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = list(runs_root.glob(f"RUN_{tag}_*/run_record.json"))
        if found:
            record = json.loads(found[0].read_text())
            if record["stage_status"] == "complete":
                return record
            assert record["stage_status"] != "failed", record["error"]
        time.sleep(0.5)
    logs = "\n".join(path.read_text()[-2000:] for path in runs_root.glob(".runlab/slurm/*/*/*.err"))
    raise AssertionError(f"{tag} did not complete in {timeout_s} s; job logs:\n{logs}")
