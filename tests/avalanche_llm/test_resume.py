"""A phase 2 killed between gains resumes with --allow_resume and ends with the bytes of an
uninterrupted run (each gain's rasters are an artifact, the checkpoint lists the gains done)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from avalanche_llm import cli

from tests.support.artifacts import artifact_hashes
from tests.support.faults import kill_once_indexed

from tests.support.cli import REPO

QUICKSTART = REPO / "configs" / "avalanche_llm" / "quickstart.yaml"


def _config(tmp_path: Path) -> Path:
    config = yaml.safe_load(QUICKSTART.read_text())
    config["avalanche_llm"]["text"].update(sequence_tokens=32, baseline_sequences=4, analysis_sequences=48)
    config["avalanche_llm"]["gain"]["values"] = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5]
    config["avalanche_llm"]["model"]["batch_size"] = 8
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _phase(phase: str, config: Path, root: Path, *extra: str) -> list[str]:
    return [phase, "--config", str(config), "--device", "cpu", "--dtype", "fp32", "--runs_root", str(root), *extra]


def test_a_killed_gain_sweep_resumes_to_the_same_bytes(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    root = tmp_path / "killed"
    assert cli.main(_phase("phase1", config, root)) == 0
    kept = kill_once_indexed([sys.executable, "-m", "avalanche_llm", *_phase("phase2", config, root)], root, "S02",
                             "data/rasters_gain")
    assert 1 <= kept < 8, f"the kill came too late ({kept} gains written)"
    capsys.readouterr()

    assert cli.main(_phase("phase2", config, root)) == 4  # incomplete: not without --allow_resume
    assert cli.main(_phase("phase2", config, root, "--allow_resume")) == 0
    out = capsys.readouterr().out
    assert "S02: resuming:" in out and "of 8 gains kept" in out

    whole = tmp_path / "whole"
    assert cli.main(_phase("phase1", config, whole)) == 0
    assert cli.main(_phase("phase2", config, whole)) == 0
    (run,) = root.glob("RUN_S02_*")
    assert artifact_hashes(run) == artifact_hashes(whole / run.name)
