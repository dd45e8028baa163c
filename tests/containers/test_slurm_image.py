"""A stage queued on the one-node SLURM cluster runs its Python inside the CPU image, through the podman
runtime of a profile: sbatch, srun, the container command, the image's Python, the run in the bound root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.slurm import wait_complete
from tests.support.images import Image
from tests.support.cli import REPO, run_cli
from tests.support.artifacts import artifact_hashes

pytestmark = [pytest.mark.container, pytest.mark.slurm]
PODMAN_VIA_BUILDAH = Path(__file__).parent / "data" / "podman-via-buildah.sh"


def test_a_slurm_job_runs_its_stage_inside_the_image(cpu_image: Image, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(PODMAN_VIA_BUILDAH, bin_dir / "podman")
    profile = yaml.safe_load((REPO / "configs" / "profiles" / "one-node.yaml").read_text(encoding="utf-8"))
    profile["container"] = {"runtime": "podman", "image": cpu_image.tag}
    (tmp_path / "in-image.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    manifest = str(REPO / "jobs" / "quickstart.yaml")
    in_image, on_host = tmp_path / "in-image", tmp_path / "on-host"

    queued = run_cli("submit", manifest, "--stage", "S01", "--profile", str(tmp_path / "in-image.yaml"),
                     "--runs_root", str(in_image), env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert queued.returncode == 0, queued.stderr
    record = wait_complete(in_image, "S01")

    assert record["executor"] == "slurm" and record["slurm"]["job_id"]  # SLURM's variables reached the job
    assert record["versions"]["image"]["source_commit"] == cpu_image.commit  # it ran in the image
    assert record["versions"]["python"].startswith("3.11.")
    local = run_cli("submit", manifest, "--stage", "S01", "--runs_root", str(on_host))
    assert local.returncode == 0, local.stderr
    (image_run,), (host_run,) = in_image.glob("RUN_S01_*"), on_host.glob("RUN_S01_*")
    assert image_run.name == host_run.name
    assert artifact_hashes(image_run) == artifact_hashes(host_run)
