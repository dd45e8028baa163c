"""A hunt with ``execution.device: cuda`` asks SLURM for a GPU per generation without editing jobs/irer.yaml; the
request changes no run id."""

from __future__ import annotations

import re

from tests.support.cli import REPO, run_cli

MANIFEST = REPO / "jobs" / "irer.yaml"
PROFILES = REPO / "configs" / "profiles"


def _dry_run(tmp_path, profile: str, *settings: str) -> tuple[dict[str, str], dict[str, str]]:
    """Run ids and sbatch lines by stage tag of a 2-generation hunt's dry run."""
    result = run_cli("submit", str(MANIFEST), "--set", "irer.hunt.generations=2", *settings, "--profile", profile,
                     "--runs_root", str(tmp_path / "runs"), "--dry_run")
    assert result.returncode == 0, result.stderr
    run_ids = dict(re.findall(r"^(\w+)\s+(RUN_\w+)\s+would run", result.stdout, re.MULTILINE))
    jobs = dict(re.findall(r"^  (\w+): sbatch (.*)$", result.stdout, re.MULTILINE))
    assert not (tmp_path / "runs").exists()
    return run_ids, jobs


def test_cuda_generations_ask_for_one_gpu_on_the_gpu_class(tmp_path):
    cuda = ("--set", "irer.execution.device=cuda")
    run_ids, jobs = _dry_run(tmp_path, str(PROFILES / "slurm.yaml"), *cuda)
    assert sorted(jobs) == ["GEN000", "GEN001", "REPORT"]
    assert "--gres=gpu:1" in jobs["GEN000"].split() and "--gres=gpu:1" in jobs["GEN001"].split()
    assert "gres" not in jobs["REPORT"] and "gpus" not in jobs["REPORT"]
    assert jobs["GEN001"].endswith("--dependency=afterok:GEN000 --kill-on-invalid-dep=yes")
    # the one-node cluster's gpu class names no GRES: the count goes as --gpus-per-node
    _, one_node = _dry_run(tmp_path, str(PROFILES / "one-node.yaml"), *cuda)
    assert "--gpus-per-node=1" in one_node["GEN000"].split() and "--partition=debug" in one_node["GEN000"].split()
    local_ids, _ = _dry_run(tmp_path, "local", *cuda)
    assert local_ids == run_ids  # resources never enter run ids


def test_auto_and_cpu_generations_ask_for_no_gpu(tmp_path):
    for device in ("auto", "cpu"):
        _, jobs = _dry_run(tmp_path, str(PROFILES / "slurm.yaml"), "--set", f"irer.execution.device={device}")
        assert not [tag for tag, line in jobs.items() if "gres" in line or "gpus" in line], device
