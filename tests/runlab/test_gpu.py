"""GPU stages on SLURM fail closed when their job cannot see the CUDA devices the manifest asks for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runlab.config import resolve_config
from runlab.canon import load_registry
from runlab.errors import DeterminismError
from runlab.gpu import visible_cuda_devices
from runlab.launcher import build_stage_job
from runlab.manifest import load_manifest
from runlab.plan import plan_config
from runlab.record import read_record

from tests.support.cli import run_cli


def _stage_job(study, executor: str):
    manifest = load_manifest(study.manifest)
    config = resolve_config(study.config, load_registry(manifest.canon), None)
    return build_stage_job(plan_config(manifest, config), "S01", run_id="RUN_S01_0123456789ab",
                           runs_root=str(study.runs_root), executor=executor, submission_id="0" * 16, allow_resume=False)


def _gpu_stage(gpus: int) -> dict:
    return {"S01": {"entry": "tests.support.stages:echo", "resources": {"cpus": 1, "mem_gb": 1, "gpus": gpus}}}


def test_slurm_job_asking_more_gpus_than_it_sees_fails_before_its_run_exists(make_study):
    wanted = visible_cuda_devices() + 1  # 1 on a machine without GPUs
    study = make_study(_gpu_stage(wanted), {"values": [1]})
    job = _stage_job(study, "slurm")
    assert job.gpus == wanted
    with pytest.raises(DeterminismError) as caught:
        job()
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    assert str(caught.value).startswith(
        f"stage S01 (RUN_S01_0123456789ab) asks for {wanted} GPU(s) but this job sees {wanted - 1} CUDA device(s); ")
    assert not study.runs_root.exists()


def test_slurm_job_without_gpus_and_local_gpu_jobs_run(make_study):
    cpu = make_study(_gpu_stage(0), {"values": [1]}, name="cpu")
    assert _stage_job(cpu, "slurm")() == "RUN_S01_0123456789ab complete"
    assert read_record(cpu.runs_root / "RUN_S01_0123456789ab")["executor"] == "slurm"
    laptop = make_study(_gpu_stage(visible_cuda_devices() + 1), {"values": [1]}, name="laptop")
    assert _stage_job(laptop, "local")() == "RUN_S01_0123456789ab complete"  # the stage picks its device


def test_hand_submitted_gpu_job_that_sees_no_device_is_one_line_exit_2(make_study):
    # exec-stage under SLURM (the sbatch templates) is a slurm job; CUDA_VISIBLE_DEVICES="" hides every GPU
    study = make_study(_gpu_stage(1), {"values": [1]})
    result = run_cli(*study.args("exec-stage", "--stage", "S01"), env={"SLURM_JOB_ID": "77", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "asks for 1 GPU(s) but this job sees 0 CUDA device(s)" in result.stderr
    assert not study.runs_root.exists()


def test_hidden_devices_count_zero_and_counting_imports_no_framework():
    code = ("import sys; from runlab.gpu import visible_cuda_devices; n = visible_cuda_devices(); "
            "assert not {'torch', 'jax'} & set(sys.modules); print(n)")
    result = subprocess.run([sys.executable, "-c", code], env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == "0\n"
