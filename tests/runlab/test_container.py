"""Container runtimes in execution profiles: the command each runtime gets, the profile syntax, and the
whole sbatch script submitit writes for a container job, each checked against saved reference text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from runlab.cli import main
from runlab.config import resolved_from_bytes
from runlab.container import RUNTIMES, container_command
from runlab.errors import ConfigError
from runlab.launcher import build_stage_job
from runlab.manifest import load_manifest
from runlab.plan import plan_config
from runlab.profile import ContainerSettings, load_profile
from runlab.sbatch import with_dependency
from runlab.slurm_backend import SlurmBackend
from runlab.store import RunStore

from tests.support.cli import REPO

REFERENCES = Path(__file__).parent / "data" / "container"
IMAGES = {"apptainer": "/images/suite-gpu.sif", "podman": "localhost/runlab-suite:gpu", "docker": "runlab-suite:gpu"}
RUNS_ROOT = "/scratch/runlab/runs"  # never created: rendering a script writes nothing


def _commands_text() -> str:
    """Every runtime with and without GPUs and extra binds, as ``commands.txt`` holds them."""
    blocks = []
    for runtime, image in IMAGES.items():
        for gpus, binds in ((0, [RUNS_ROOT]), (2, [RUNS_ROOT, "/datasets", "/home/me/my data", RUNS_ROOT])):
            blocks.append(f"# {runtime}, gpus={gpus}, binds={binds}\n{container_command(runtime, image, binds, gpus)}\n")
    return "\n".join(blocks)


def test_each_runtime_command_matches_its_reference():
    assert _commands_text() == (REFERENCES / "commands.txt").read_text()


def test_gpus_go_in_only_when_the_job_asks_for_them():
    flags = {"apptainer": "--nv", "podman": "--device nvidia.com/gpu=all", "docker": "--gpus all"}
    for runtime, flag in flags.items():
        assert flag not in container_command(runtime, IMAGES[runtime], [RUNS_ROOT], 0)
        assert flag in container_command(runtime, IMAGES[runtime], [RUNS_ROOT], 1)


def test_unknown_runtime_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown container runtime 'singularity'; use one of apptainer, podman"):
        container_command("singularity", "suite.sif", [RUNS_ROOT], 0)


def _profile(tmp_path: Path, container: dict | None, **slurm) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "executor": "slurm", "slurm": slurm, "container": container}))
    return path


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_profile_names_its_runtime(tmp_path, runtime):
    path = _profile(tmp_path, {"runtime": runtime, "image": IMAGES[runtime], "binds": ["/datasets"]})
    container = load_profile(path).container
    assert container == ContainerSettings(image=IMAGES[runtime], runtime=runtime, binds=("/datasets",))
    assert container.python_command(Path(RUNS_ROOT), 0) == container_command(
        runtime, IMAGES[runtime], [RUNS_ROOT, "/datasets"], 0)


def test_runtime_defaults_to_apptainer_and_shipped_profiles_load():
    example = load_profile(REPO / "configs" / "profiles" / "slurm-apptainer.yaml")
    assert example.executor == "slurm"
    assert example.container == ContainerSettings(image="/path/to/suite-gpu.sif", runtime="apptainer")
    for path in sorted((REPO / "configs" / "profiles").glob("*.yaml")):
        load_profile(path)


@pytest.mark.parametrize(("container", "message"), [
    ({"runtime": "singularity", "image": "suite.sif"}, "at container.runtime: 'singularity' is not one of"),
    ({"runtime": "podman"}, "at container: 'image' is a required property"),
    ({"image": "suite.sif", "exec": "apptainer exec --nv"}, "('exec' was unexpected)"),
    ({"image": "suite.sif", "binds": ["data"]}, "at container.binds.0: 'data' does not match"),
    ({"image": "suite.sif", "binds": ["/data:/mnt"]}, "at container.binds.0: '/data:/mnt' does not match"),
])
def test_bad_container_settings_are_one_line_config_errors(tmp_path, capsys, container, message):
    path = _profile(tmp_path, container)
    with pytest.raises(ConfigError, match="fix the profile") as caught:
        load_profile(path)
    assert message in str(caught.value) and caught.value.exit_code == 2
    code = main(["submit", str(REPO / "jobs" / "quickstart.yaml"), "--profile", str(path), "--dry_run",
                 "--runs_root", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


@pytest.fixture
def srun_on_path(tmp_path, monkeypatch):
    """submitit's SlurmExecutor only checks that ``srun`` is on PATH; nothing here runs it."""
    if shutil.which("srun") is None:
        folder = tmp_path / "bin"
        folder.mkdir()
        (folder / "srun").write_text("#!/bin/sh\nexit 1\n")
        (folder / "srun").chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_sbatch_script_of_a_container_job_matches_its_reference(tmp_path, srun_on_path, runtime):
    manifest_path = tmp_path / "manifest.yaml"
    manifest_path.write_text(yaml.safe_dump({
        "schema_version": 1, "study": "testing", "canon": str(REPO / "spec" / "00_CANONICAL.md"),
        "config": "config.yaml",
        "stages": {"S01": {"entry": "tests.support.stages:echo",
                           "resources": {"cpus": 4, "mem_gb": 16, "gpus": 1, "time_min": 30}}},
    }))
    manifest = load_manifest(manifest_path)
    config = resolved_from_bytes(b"determinism:\n  seed: 7\ntest:\n  values:\n  - 1\n", "config")
    profile = load_profile(_profile(tmp_path, {"runtime": runtime, "image": IMAGES[runtime], "binds": ["/datasets"]},
                                    partition="gpu", setup=[f"module load {runtime}"]))
    store = RunStore(Path(RUNS_ROOT))
    stage = manifest.stages["S01"]
    job = build_stage_job(plan_config(manifest, config), "S01", run_id="RUN_S01_0123456789ab",
                          runs_root=str(store.root), executor="slurm", submission_id="0" * 16, allow_resume=False)
    backend = SlurmBackend(profile, store, manifest.study)
    parameters = with_dependency(backend.parameters(stage, job), "afterok:4242")
    executor = backend.make_executor(stage, job.spec.run_id, parameters)
    script = executor._make_submission_file_text(executor._submitit_command_str, "reference")  # what sbatch gets
    assert script == (REFERENCES / f"sbatch_{runtime}.sh").read_text()
    assert not Path(RUNS_ROOT).exists()
