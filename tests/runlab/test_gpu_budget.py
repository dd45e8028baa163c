"""A manifest's ``gpu_budget`` check: ``runlab submit`` shows it the runs of GPU stages it is about to start
(not the complete ones, not the CPU stages), says its line, and stops with exit 2, before anything is
written, when it refuses. In-process, through ``runlab.cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runlab import cli

STAGES = {
    "S01": {"entry": "tests.support.stages:echo", "resources": {"gpus": 1}},
    "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"]},
    "S03": {"entry": "tests.support.stages:shard", "needs": ["S02"], "array": 3, "fan_in": "tests.support.stages:gather",
            "resources": {"gpus": 2}},
}


def _study(make_study, check: str):
    study = make_study(STAGES, {"values": [1, 2]})
    manifest = yaml.safe_load(study.manifest.read_text())
    study.manifest.write_text(yaml.safe_dump({**manifest, "gpu_budget": check}, sort_keys=False))
    return study


def test_the_check_sees_the_gpu_runs_not_yet_complete(make_study, capsys: pytest.CaptureFixture[str]) -> None:
    study = _study(make_study, "tests.support.stages:list_gpu_runs")
    assert cli.main(study.args("submit", "--dry_run")) == 0
    assert "GPU runs: S01 gpus 1 tasks 1 values [1, 2]; S03 gpus 2 tasks 3 values [1, 2]" in capsys.readouterr().out
    assert cli.main(study.args("submit", "--stage", "S01")) == 0
    capsys.readouterr()
    assert cli.main(study.args("submit", "--dry_run")) == 0
    assert "GPU runs: S03 gpus 2 tasks 3 values [1, 2]" in capsys.readouterr().out.splitlines()


def test_a_refusal_is_one_line_and_exit_2_before_anything_is_written(make_study,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    study = _study(make_study, "tests.support.stages:refuse_gpu_runs")
    assert cli.main(study.args("submit")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GPU budget: 2 GPU runs, budget 0" in err[0]
    assert not study.runs_root.exists() or not any(Path(study.runs_root).rglob("RUN_*"))
