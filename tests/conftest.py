"""The real SLURM cluster behind every ``@pytest.mark.slurm`` test."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class SlurmCluster:
    """A cluster whose ``sinfo`` answers; test jobs go to its default ``partition``."""

    partition: str


def _default_partition() -> str | None:
    """The default partition named by ``sinfo`` (marked ``*``), or None when no cluster answers."""
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=30, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    names = result.stdout.split() if result.returncode == 0 else []
    defaults = [name.rstrip("*") for name in names if name.endswith("*")]
    return (defaults or names or [None])[0]


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """The cluster; skips without one, but fails when ``CI=true`` (there the cluster must start)."""
    partition = _default_partition()
    if partition is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no SLURM cluster answers (sinfo), and CI=true: the one-node cluster must start in CI")
        pytest.skip("no SLURM cluster answers (sinfo); start one with: sudo slurm/one-node/start.sh")
    return SlurmCluster(partition)


@pytest.fixture(autouse=True)
def _slurm_marker_needs_cluster(request: pytest.FixtureRequest) -> None:
    """Give every ``slurm``-marked test the cluster fixture, so the marker alone skips or fails it."""
    if request.node.get_closest_marker("slurm") is not None:
        request.getfixturevalue("slurm_cluster")


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
