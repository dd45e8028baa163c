"""Container jobs through submitit on the one-node cluster, each runtime stood in for by a script that passes
the job only the variables that runtime would: the command survives sbatch and srun, and the job completes."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, run_cli
from .test_slurm_integration import _queued_jobs, _wait_complete

pytestmark = pytest.mark.slurm
FAKE = Path(__file__).parent / "data" / "container" / "fake-runtime.sh"


@pytest.mark.parametrize("runtime", ["apptainer", "podman", "docker"])
def test_container_job_gets_the_job_variables_and_completes(make_study, tmp_path, runtime):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FAKE, bin_dir / runtime)
    (bin_dir / runtime).chmod(0o755)
    profile = yaml.safe_load((REPO / "configs" / "profiles" / "one-node.yaml").read_text())
    profile["container"] = {"runtime": runtime, "image": "suite-image", "binds": [str(tmp_path)]}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    study = make_study({"S01": {"entry": "tests.runlab.stages:echo"}}, {"values": [1, 2]}, determinism={"seed": 11})
    log = tmp_path / "runtime.log"
    python_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}{os.pathsep}{python_bin}{os.pathsep}{os.environ['PATH']}",
           "RUNLAB_FAKE_RUNTIME_LOG": str(log), "RUNLAB_FAKE_IMAGE_PATH": f"{python_bin}:/usr/bin:/bin"}
    result = run_cli(*study.args("submit", profile=str(tmp_path / "profile.yaml")), env=env)
    assert result.returncode == 0, result.stderr
    (job_id,) = _queued_jobs(result.stdout)["S01"]

    record = _wait_complete(study.runs_root, "S01")
    assert record["executor"] == "slurm" and record["slurm"]["job_id"] == job_id  # SLURM_* reached the job
    assert record["determinism"]["python"]["hash_seed_in_effect"]  # PYTHONHASHSEED from the sbatch setup
    words = log.read_text().splitlines()
    root = str(study.runs_root.resolve())
    if runtime == "apptainer":
        assert words[:4] == ["apptainer", "exec", "--bind", root] and "--nv" not in words
    else:
        assert f"{root}:{root}" in words and words[words.index("--workdir") + 1] == str(REPO)
        assert words[-6:-1] == ["python", "suite-image", "-u", "-m", "submitit.core._submit"]
