"""The CPU image, built here from a local root filesystem: it holds exactly its lock, runs the suite's CLI
and a study, records the pinned versions in every run, serves a reviewer, and rebuilds to the same id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runlab.record import read_record
from tests.support.images import Image, build_image
from tests.support.cli import REPO
from tests.support.artifacts import artifact_hashes

sys.path.insert(0, str(REPO / "containers"))
import image_lock  # noqa: E402

pytestmark = pytest.mark.container
ENTRYPOINT = "/opt/suite/containers/entrypoint.sh"
CPU_PINS = image_lock.read_lock(REPO / "containers" / "lock" / "cpu.txt")
MARGIN_REPAIR_TAGS = ("DATA", "REPAIR", "CERT", "EVAL")


@pytest.fixture(scope="module")
def host_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """margin_repair's quickstart run on this host (the synthetic set), outside any image."""
    root = tmp_path_factory.mktemp("host") / "runs"
    subprocess.run([sys.executable, "-m", "margin_repair.quickstart", "--manifest", str(REPO / "jobs" / "margin_repair.yaml"),
                    "--runs_root", str(root)], cwd=root.parent, check=True, capture_output=True, text=True, timeout=600)
    return root


@pytest.fixture(scope="module")
def reviewed(cpu_image: Image, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``review margin_repair`` inside the image, into a fresh runs root bound from the host."""
    bound = tmp_path_factory.mktemp("review")
    result = cpu_image.run(ENTRYPOINT, "review", "--runs_root", "/review/runs", "margin_repair",
                           volumes=[(bound, "/review")])
    return bound / "runs", result


def runs_by_tag(root: Path) -> dict[str, Path]:
    return {path.name.split("_")[1]: path for path in sorted(root.glob("RUN_*"))}


def test_the_image_holds_exactly_its_lock(cpu_image: Image) -> None:
    result = cpu_image.run(ENTRYPOINT, "check")
    assert result.stdout.strip() == f"image check: {len(CPU_PINS)} distributions match containers/lock/cpu.txt"
    manifest = json.loads(cpu_image.run("cat", "/opt/suite/image.json").stdout)
    assert manifest["pinned"] == CPU_PINS
    assert manifest["source_commit"] == cpu_image.commit
    assert manifest["python"].startswith(image_lock.PYTHON_SERIES + ".")


def test_the_image_is_labelled_with_its_commit_and_lock(cpu_image: Image) -> None:
    inspected = subprocess.run(["podman", "image", "inspect", cpu_image.tag], capture_output=True, text=True, check=True)
    (image,) = json.loads(inspected.stdout)
    labels = image["Labels"]
    assert labels["org.opencontainers.image.revision"] == cpu_image.commit
    assert (labels["runlab.lock"], labels["runlab.variant"], labels["runlab.python"]) == ("containers/lock/cpu.txt", "cpu", "3.11")
    assert image["Config"]["Entrypoint"] == [ENTRYPOINT]
    commit_time = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%cI", cpu_image.commit],
                                 capture_output=True, text=True, check=True).stdout.strip()
    assert image["Created"].startswith(commit_time[:19])  # SOURCE_DATE_EPOCH, not the build's clock


def test_the_suite_cli_runs_in_the_image(cpu_image: Image) -> None:
    assert cpu_image.run(ENTRYPOINT, "--help").stdout.startswith("usage: runlab")
    missing = cpu_image.run(ENTRYPOINT, "verify", "RUN_S01_000000000000", "--runs_root", "/tmp", check=False)
    assert missing.returncode == 2
    assert missing.stderr.startswith("runlab: error: run RUN_S01_000000000000 does not verify")


def test_review_reruns_a_study_and_verifies_every_run(reviewed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, result = reviewed
    runs = runs_by_tag(root)
    assert sorted(runs) == sorted(MARGIN_REPAIR_TAGS)
    for run_id in (path.name for path in runs.values()):
        assert f"{run_id}: ok (complete" in result.stdout


def test_runs_made_in_the_image_record_its_pinned_versions(cpu_image: Image, reviewed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = reviewed
    for run_dir in runs_by_tag(root).values():
        versions = read_record(run_dir)["versions"]
        assert versions["image"]["pinned"] == CPU_PINS
        assert versions["image"]["variant"] == "cpu"
        assert versions["git_commit"] == versions["image"]["source_commit"] == cpu_image.commit
        assert versions["torch"] == CPU_PINS["torch"] and versions["python"].startswith("3.11.")


def test_the_image_reproduces_the_runs_made_on_the_host(reviewed: tuple[Path, subprocess.CompletedProcess[str]], host_runs: Path) -> None:
    image_runs, host = runs_by_tag(reviewed[0]), runs_by_tag(host_runs)
    assert [path.name for path in image_runs.values()] == [path.name for path in host.values()]  # same run ids
    for tag in MARGIN_REPAIR_TAGS:
        assert results(image_runs[tag]) == results(host[tag]), tag


def results(run_dir: Path) -> dict[str, str]:
    """A run's artifact hashes but its logs, which hold wall-clock seconds."""
    return {name: digest for name, digest in artifact_hashes(run_dir).items() if not name.startswith("logs/")}


def test_verify_runs_checks_runs_made_elsewhere(cpu_image: Image, host_runs: Path, tmp_path: Path) -> None:
    assert cpu_image.run(ENTRYPOINT, "verify-runs", "/runs", volumes=[(host_runs, "/runs")]).returncode == 0
    damaged = tmp_path / "runs"
    subprocess.run(["cp", "-a", str(host_runs), str(damaged)], check=True)
    certificate = next(path for path in (runs_by_tag(damaged)["CERT"]).rglob("*") if path.is_file() and path.name != "run_record.json")
    os.chmod(certificate, 0o644)
    certificate.write_bytes(certificate.read_bytes() + b"\n")
    result = cpu_image.run(ENTRYPOINT, "verify-runs", "/runs", volumes=[(damaged, "/runs")], check=False)
    assert result.returncode == 2
    assert certificate.name in result.stdout + result.stderr


def test_a_rebuild_from_scratch_gives_the_same_image(cpu_image: Image, tmp_path: Path) -> None:
    clone = tmp_path / "suite"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", cpu_image.commit], check=True)
    rebuilt = build_image(clone, cpu_image.tag + "-rebuilt", "--no-cache")
    assert rebuilt.returncode == 0, rebuilt.stderr[-4000:]
    image_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", cpu_image.tag + "-rebuilt"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert image_id == cpu_image.image_id
