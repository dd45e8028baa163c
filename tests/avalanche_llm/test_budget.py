"""The GPU budget of seed 002 (spec/22): the estimate from the config, and ``runlab submit`` refusing, with
one line and before anything is written or queued, a submission whose estimate is over the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from avalanche_llm.budget import check_gpu_budget, forwarded_tokens, load_budget, model_parameters
from avalanche_llm.config import ModelSettings, RuntimeSettings
from avalanche_llm.model.loader import load_model
from runlab import ConfigError, GpuRun, cli as runlab_cli, load_study

from tests.support.cli import REPO

MANIFEST = str(REPO / "jobs" / "avalanche_llm.yaml")
GPT2 = 124439808  # parameters of openai-community/gpt2 (configs/budgets.yaml)


def expected_hours(tasks: int, tokens: int, parameters: int = GPT2) -> float:
    """The estimate of spec/22 by hand, with CANON.CONST's 5 min per task and 20 TFLOP/s, one GPU."""
    return tasks * 5 / 60 + 2 * parameters * tokens / 20e12 / 3600


# the cluster config: 64 + 512 windows of 128 tokens, 6 gains, ARC-Challenge test (1,172 items, 4 choices, 64 tokens)
PIPELINE = {"S01": expected_hours(1, 64 * 128), "S02": expected_hours(1, 6 * 512 * 128),
            "S06ARC": expected_hours(6, 6 * 1172 * 4 * 64), "S06B": expected_hours(6, 6 * 512 * 128)}


def test_the_budget_file_resolves_its_canon_references() -> None:
    budget = load_budget()
    assert (budget.gpu_hours, budget.sustained_tflops, budget.job_overhead_min) == (12, 20, 5)
    assert budget.model_parameters["openai-community/gpt2"] == GPT2
    assert budget.arc_items["ARC-Challenge"]["test"] == 1172


def test_a_local_model_is_counted_from_its_config_without_its_weights(tiny_gpt2: Path) -> None:
    loaded = load_model(ModelSettings(str(tiny_gpt2), None, 4), RuntimeSettings("cpu", "fp32"))
    assert model_parameters(str(tiny_gpt2), load_budget()) == sum(p.numel() for p in loaded.model.parameters())


def test_the_cluster_config_is_estimated_stage_by_stage_within_the_budget(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert runlab_cli.main(["submit", MANIFEST, "--dry_run", "--runs_root", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    total = sum(PIPELINE.values())
    assert round(total, 2) == 1.18
    assert (f"GPU budget: ~{total:.2f} of 12 GPU-hours ("
            + ", ".join(f"{tag} {hours:.2f}" for tag, hours in PIPELINE.items()) + ")") in out.splitlines()


def test_a_submission_over_the_budget_is_refused_before_anything_is_written(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    seeds = ",".join(str(seed) for seed in range(11))  # 11 text slices: every stage runs 11 times
    code = runlab_cli.main(["submit", MANIFEST, "--sweep", f"avalanche_llm.text.seed={seeds}",
                            "--runs_root", str(root)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    total = 11 * sum(PIPELINE.values())
    parts = ", ".join(f"{tag} {11 * hours:.2f}" for tag, hours in PIPELINE.items())
    assert len(err) == 1 and f"GPU budget: this submission would queue ~{total:.2f} GPU-hours ({parts}), over the " \
                              "budget of 12 GPU-hours (configs/budgets.yaml)" in err[0]
    assert not root.exists() or not any(root.rglob("*"))  # no run, no claim, no lock


def test_runs_on_the_cpu_are_not_counted_and_say_nothing(tmp_path: Path, tiny_config) -> None:
    study = load_study(MANIFEST, config=tiny_config(), runs_root=tmp_path)
    runs = [GpuRun(tag, 1, 3, study.plans[0].config.data) for tag in ("S01", "S02", "S06ARC", "S06B")]
    assert check_gpu_budget(runs) == ""


def test_the_tokens_of_each_stage_follow_the_config(tmp_path: Path, tiny_config) -> None:
    config = load_study(MANIFEST, config=tiny_config(behaviour={"arc": {"dataset": "x", "config": "ARC-Easy",
                                                                        "split": "test", "revision": None,
                                                                        "max_items": 7, "batch_size": 8}}),
                        runs_root=tmp_path).plans[0].config.data
    budget = load_budget()
    # TINY_STUDY: 4 baseline and 24 analysis windows of 16 tokens, 3 gains; max_items 7 wins over the split's size
    assert [forwarded_tokens(tag, config, budget) for tag in ("S01", "S02", "S06ARC", "S06B", "S03", "S05")] == \
        [4 * 16, 3 * 24 * 16, 3 * 7 * 4 * 64, 3 * 24 * 16, 0, 0]


def test_a_hub_model_without_a_parameter_count_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = runlab_cli.main(["submit", MANIFEST, "--dry_run", "--set", "avalanche_llm.model.hf_id=someone/unknown-lm",
                            "--runs_root", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "GPU budget: model someone/unknown-lm is neither a local folder nor in model_parameters" in err
    with pytest.raises(ConfigError, match="add `someone/unknown-lm: <parameter count>`"):
        model_parameters("someone/unknown-lm", load_budget())
