"""Fixtures for the runtime's tests: small studies written into a temp dir, and the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Study:
    """A manifest and config in a temp dir, and the runs root the tests give the CLI."""

    folder: Path
    manifest: Path
    config: Path
    runs_root: Path

    def args(self, command: str, *extra: str, profile: str = "local") -> list[str]:
        """CLI arguments for ``submit``-like commands on this study."""
        base = [command, str(self.manifest), "--config", str(self.config), "--runs_root", str(self.runs_root)]
        if command == "submit":
            base += ["--profile", profile]
        return [*base, *extra]

    def write_config(self, test_section: dict[str, Any], **top: Any) -> None:
        self.config.write_text(yaml.safe_dump({"test": test_section, **top}, sort_keys=False))


@pytest.fixture
def make_study(tmp_path: Path):
    """``make_study(stages, test_section)`` writes jobs/<study>.yaml and a config under tmp_path."""

    def make(stages: dict[str, Any], test_section: dict[str, Any], name: str = "study", **top: Any) -> Study:
        folder = tmp_path / name
        folder.mkdir()
        manifest = {
            "schema_version": 1,
            "study": "testing",
            "canon": str(REPO / "spec" / "00_CANONICAL.md"),
            "config": "config.yaml",
            "python_path": [str(REPO)],
            "stages": stages,
        }
        (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        study = Study(folder, folder / "manifest.yaml", folder / "config.yaml", folder / "runs")
        study.write_config(test_section, **top)
        return study

    return make


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m runlab ARGS`` from the repo root, output captured as text."""
    environment = {key: value for key, value in os.environ.items() if key != "RUNLAB_RUNS_ROOT"}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "runlab", *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def artifact_bytes(run_dir: Path) -> dict[str, bytes]:
    """Every artifact file of a run directory by relative path (record, config and checkpoints left out)."""
    return {
        path.relative_to(run_dir).as_posix(): path.read_bytes()
        for folder in ("results", "tables", "figs", "logs", "data")
        for path in sorted((run_dir / folder).rglob("*"))
        if path.is_file()
    }


def artifact_hashes(run_dir: Path) -> dict[str, str]:
    """sha256 of every artifact by relative path, as the run's record indexes them."""
    record = json.loads((run_dir / "run_record.json").read_text())
    return {entry["relative_path"]: entry["sha256"] for entry in record["artifact_index"]}


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


def kill_once_indexed(command: list[str], runs_root: Path, stage_tag: str, prefix: str, pythonpath: Path) -> int:
    """Start ``command`` from the repo root, kill it as soon as the ``stage_tag`` run indexes an artifact
    under ``prefix`` (or after 120 s), and return how many such artifacts the killed run kept."""
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(pythonpath)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not indexed_artifacts(runs_root, stage_tag, prefix) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.kill()
    process.wait()
    return indexed_artifacts(runs_root, stage_tag, prefix)


CHAIN = {
    "S01": {"entry": "tests.runlab.stages:echo"},
    "S02": {"entry": "tests.runlab.stages:echo", "needs": ["S01"]},
    "S03": {"entry": "tests.runlab.stages:echo", "needs": ["S02"]},
}
