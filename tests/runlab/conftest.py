"""Fixtures for the runtime's tests: small studies written into a temp dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import REPO


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
