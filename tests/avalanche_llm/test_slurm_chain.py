"""Phases 1 to 8 of the tiny study as one SLURM dependency chain on the one-node cluster, with phase 6
fanning out as job arrays over the swept gains; the runs equal those of the local CLI, byte for byte.

The manifest is jobs/avalanche_llm.yaml with the resources shrunk to what the one-node cluster has
(2 CPUs, no GPU): entries, needs, arrays and fan-ins are the study's own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from avalanche_llm.config import load_study_config
from avalanche_llm.run_id import PHASE_TAGS, phase_run_id

from tests.support.artifacts import artifact_hashes

from tests.support.cli import REPO

pytestmark = pytest.mark.slurm
PROFILE = REPO / "configs" / "profiles" / "one-node.yaml"


def _small_manifest(folder: Path) -> Path:
    manifest = yaml.safe_load((REPO / "jobs" / "avalanche_llm.yaml").read_text())
    for key in ("canon", "config", "config_schema"):
        manifest[key] = str((REPO / "jobs" / manifest[key]).resolve())
    for stage in manifest["stages"].values():
        stage["resources"] = {"cpus": 1, "mem_gb": 2, "gpus": 0, "time_min": 15}
    path = folder / "avalanche_llm.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def _wait(root: Path, run_id: str, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        path = root / run_id / "run_record.json"
        if path.is_file():
            record = json.loads(path.read_text())
            assert record["stage_status"] != "failed", record["error"]
            if record["stage_status"] == "complete":
                return record
        time.sleep(1)
    logs = "\n".join(path.read_text()[-1500:] for path in root.glob(".runlab/slurm/*/*/*.err"))
    raise AssertionError(f"{run_id} did not complete in {timeout_s} s; job logs:\n{logs}")


def test_phases_1_to_8_queue_as_one_chain_with_phase6_arrays(slurm_cluster, tiny_config, tmp_path: Path) -> None:
    config = tiny_config()
    manifest = _small_manifest(tmp_path)
    root = tmp_path / "slurm_runs"
    submitted = subprocess.run([sys.executable, "-m", "runlab", "submit", str(manifest), "--config", str(config),
                                "--runs_root", str(root), "--profile", str(PROFILE)],
                               cwd=REPO, capture_output=True, text=True, timeout=300)
    assert submitted.returncode == 0, submitted.stderr
    queued = {match.group(1): match.group(2).split(",") for match in
              re.finditer(r"^(\S+)\s+RUN_\S+\s+queued\s+SLURM job\(s\) (\S+)", submitted.stdout, re.MULTILINE)}
    assert sorted(queued) == sorted(PHASE_TAGS.values())
    assert all(len(queued[tag]) == 2 for tag in ("S06ARC", "S06B"))  # an --array of 3 gains and its fan-in
    assert f"after {queued['S02'][-1]}" in submitted.stdout  # phase 6 waits for the sweep
    resolved = load_study_config(config)
    s08 = _wait(root, phase_run_id(resolved, "phase8"))
    assert s08["executor"] == "slurm"
    arc = json.loads((root / phase_run_id(resolved, "phase6arc") / "run_record.json").read_text())
    assert arc["array"] == {"size": 3, "done": [0, 1, 2]}

    local = tmp_path / "local_runs"
    for phase in PHASE_TAGS:
        assert subprocess.run([sys.executable, "-m", "avalanche_llm", phase, "--config", str(config), "--device",
                               "cpu", "--dtype", "fp32", "--runs_root", str(local)], cwd=REPO,
                              capture_output=True, text=True).returncode == 0, phase
    for phase in PHASE_TAGS:
        run_id = phase_run_id(resolved, phase)
        assert artifact_hashes(root / run_id) == artifact_hashes(local / run_id), phase
