"""A real small irer hunt for the monitor's tests (tests/irer/test_monitor.py and test_monitor_browser.py):
its config and ``runlab submit`` of its generations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runlab.record import read_record
from tests.support.cli import REPO, run_cli

MANIFEST = REPO / "jobs" / "irer.yaml"


def hunt_config() -> dict[str, Any]:
    """A 3-generation hunt of 4 candidates on a 16×16 grid (seconds on a CPU)."""
    config = yaml.safe_load((REPO / "configs" / "irer" / "quickstart.yaml").read_text())
    config["irer"]["hunt"].update(generations=3, top_candidates=3)
    config["irer"]["ga"]["population_size"] = 4
    config["irer"]["grid"] = {"n": 16, "dx": 1.0}
    config["irer"]["time"] = {"dt": 0.25, "steps": 60}
    config["determinism"] = {"seed": 3}
    return config


def submit(config_path: Path, root: Path, *stages: str) -> None:
    """``runlab submit`` of ``stages`` (and what they need upstream) of the irer manifest, locally."""
    targets = [argument for stage in stages for argument in ("--stage", stage)]
    done = run_cli("submit", str(MANIFEST), "--config", str(config_path), "--runs_root", str(root), *targets)
    assert done.returncode == 0, done.stderr


def two_generation_hunt(base: Path) -> dict[str, Any]:
    """Generations 0 and 1 of the `hunt_config` hunt under ``base/runs`` (generation 2 is left for live tests):
    its runs ``root``, ``config`` path, run ids by stage tag (``runs``) and hunt page ``href``."""
    config_path = base / "hunt.yaml"
    config_path.write_text(yaml.safe_dump(hunt_config(), sort_keys=False))
    root = base / "runs"
    submit(config_path, root, "GEN001")
    runs = {path.name.split("_")[1]: path.name for path in root.glob("RUN_*")}
    assert sorted(runs) == ["GEN000", "GEN001"]
    config_hash = read_record(root / runs["GEN001"])["study_config_hash"]
    return {"root": root, "config": config_path, "runs": runs, "href": f"/studies/irer/hunts/{config_hash[:12]}"}
