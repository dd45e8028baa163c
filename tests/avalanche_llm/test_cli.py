"""The phase CLI: commands and defaults from CANON.CLI.CMD, phase 0, dry runs and the exit codes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from avalanche_llm import cli
from avalanche_llm.canon import load_canon, phase_commands
from avalanche_llm.config import load_study_config
from avalanche_llm.run_id import phase_run_id

from tests.support.cli import REPO

QUICKSTART = REPO / "configs" / "avalanche_llm" / "quickstart.yaml"


def _run(phase: str, config: Path, root: Path, *extra: str, device: str = "cpu") -> int:
    return cli.main([phase, "--config", str(config), "--device", device, "--dtype", "fp32", "--runs_root", str(root),
                     *extra])


def test_every_canon_command_parses_to_its_own_defaults() -> None:
    registry = load_canon()
    commands = phase_commands(registry)
    assert [command.name for command in commands] == [*(f"phase{n}" for n in range(6)), "phase6arc", "phase6b", "phase7", "phase8"]
    parser = cli._parser(commands)
    for command in commands:
        words = shlex.split(registry.lookup(f"CANON.CLI.CMD.{command.key}"))
        args = parser.parse_args(words[3:])  # after "python -m avalanche_llm"
        defaults = parser.parse_args([command.name])
        for flag in ("config", "run_id_mode"):
            assert str(getattr(args, flag)) == str(getattr(defaults, flag)) == command.defaults[flag]
        assert (args.device, args.dtype) == ("cuda", "bf16") and (defaults.device, defaults.dtype) == (None, None)
        assert str(defaults.config) == registry.lookup("CANON.PATH.CONFIG_PIPELINE")
        assert defaults.run_id_mode == "content_hash"
        assert getattr(args, "gstar_method", "btot_near_one") == "btot_near_one"
        assert getattr(defaults, "gstar_method", None) is None  # the config's value, unless given
        assert defaults.allow_resume is False and defaults.dry_run is False
    assert not hasattr(parser.parse_args(["phase1"]), "gstar_method")
    arc = parser.parse_args(shlex.split(registry.lookup("CANON.CLI.CMD.PHASE6ARC"))[3:])
    assert (arc.arc_config, arc.arc_split) == (registry.lookup("CANON.DATASET.ARC_MCQ.CONFIG"),
                                               registry.lookup("CANON.DATASET.ARC_MCQ.SPLIT"))
    assert not hasattr(parser.parse_args(["phase6b"]), "arc_config")


def test_the_canon_commands_and_the_bare_ones_plan_the_same_runs_of_the_pipeline_config() -> None:
    """Seed 002's commands as CANON.CLI.CMD writes them, and the bare ``phaseN`` (flags from the config, which
    says what the CANON defaults say), give the cluster config the same run ids."""
    registry = load_canon()
    parser = cli._parser(phase_commands(registry))
    for command in phase_commands(registry):
        written = parser.parse_args(shlex.split(registry.lookup(f"CANON.CLI.CMD.{command.key}"))[3:])
        bare = parser.parse_args([command.name])
        bare.config = written.config = REPO / written.config
        assert cli._overrides(bare) == {}  # pipeline.yaml holds every key the flags set
        assert cli._study(written).plans[0].run_ids == cli._study(bare).plans[0].run_ids, command.name


def test_the_flags_default_to_the_config_and_to_canon_where_it_does_not_say(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    assert cli.main(["phase0", "--config", str(QUICKSTART), "--runs_root", str(root)]) == 0  # cpu: no GPU needed
    assert "environment ok" in capsys.readouterr().out
    assert cli.main(["phase2", "--config", str(QUICKSTART), "--runs_root", str(root), "--dry_run"]) == 0
    quickstart = load_study_config(QUICKSTART)
    assert (quickstart.data["avalanche_llm"]["runtime"]) == {"device": "cpu", "dtype": "fp32"}
    assert f"as {phase_run_id(quickstart, 'phase2')};" in capsys.readouterr().out
    assert cli.main(["phase2", "--config", str(QUICKSTART), "--dtype", "fp16", "--runs_root", str(root),
                     "--dry_run"]) == 0  # a flag given sets its key
    fp16 = load_study_config(QUICKSTART, {"dtype": "fp16"})
    assert f"as {phase_run_id(fp16, 'phase2')};" in capsys.readouterr().out
    assert phase_run_id(fp16, "phase2") != phase_run_id(quickstart, "phase2")

    silent = tmp_path / "no_runtime.yaml"  # a config that does not say: seed 002's defaults, cuda and bf16
    data = yaml.safe_load(QUICKSTART.read_text())
    del data["avalanche_llm"]["runtime"]
    silent.write_text(yaml.safe_dump(data, sort_keys=False))
    args = cli._parser(phase_commands(load_canon())).parse_args(["phase2", "--config", str(silent)])
    assert cli._overrides(args) == {"avalanche_llm.runtime.device": "cuda", "avalanche_llm.runtime.dtype": "bf16"}
    assert cli.main(["phase2", "--config", str(silent), "--runs_root", str(root), "--dry_run"]) == 0
    cuda = load_study_config(QUICKSTART, {"device": "cuda", "dtype": "bf16"})
    assert f"as {phase_run_id(cuda, 'phase2')};" in capsys.readouterr().out


def test_phase0_validates_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    assert _run("phase0", QUICKSTART, root) == 0
    out = capsys.readouterr().out
    assert "transformers 5.23.0 (pinned 5.23.0)" in out and "environment ok" in out
    assert "no run directory created" in out and not root.exists()


def test_dry_run_resolves_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    assert _run("phase2", QUICKSTART, root, "--dry_run") == 0
    config = load_study_config(QUICKSTART, {"device": "cpu", "dtype": "fp32", "gstar_method": "btot_near_one"})
    assert f"as {phase_run_id(config, 'phase2')}" in capsys.readouterr().out
    assert not root.exists()


def test_missing_upstream_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("phase3", QUICKSTART, tmp_path / "runs") == 3
    assert "RUN_S02_" in capsys.readouterr().err


def test_bad_input_is_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("target_rate: CANON.EVENTS.TARGET_RATE", "target_rate: 2.0"))
    assert _run("phase1", bad, tmp_path / "runs") == 2
    err = capsys.readouterr().err
    assert err.startswith("avalanche_llm: error: config") and "target_rate" in err and err.count("\n") == 1
    assert cli.main(["phase1", "--device", "tpu"]) == 2
    assert _run("phase1", tmp_path / "missing.yaml", tmp_path / "runs") == 2
    if not __import__("torch").cuda.is_available():
        assert _run("phase1", QUICKSTART, tmp_path / "runs", device="cuda") == 2
        assert "torch sees no GPU" in capsys.readouterr().err


def test_an_incomplete_run_is_exit_4_until_allowed_to_resume(tiny_config, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    config = tiny_config(text={"analysis_sequences": 100000})  # more windows than the corpus has: S01 fails
    assert _run("phase1", config, root) == 2
    assert "windows of 16 tokens; the config needs 100004" in capsys.readouterr().err
    run_id = phase_run_id(load_study_config(config, {"device": "cpu", "dtype": "fp32"}), "phase1")
    record = json.loads((root / run_id / "run_record.json").read_text())
    assert record["stage_status"] == "failed" and "windows" in record["error"]["message"]
    assert _run("phase1", config, root) == 4
    assert "--allow_resume" in capsys.readouterr().err


def test_timestamp_runs_find_their_upstream_by_config(tiny_config, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    config = tiny_config()
    assert _run("phase1", config, root, "--run_id_mode", "timestamp_counter") == 0
    assert _run("phase2", config, root, "--run_id_mode", "timestamp_counter") == 0
    runs = sorted(path.name for path in root.iterdir() if path.name.startswith("RUN_"))
    assert [run[:8] for run in runs] == ["RUN_S01_", "RUN_S02_"] and all(len(run) == len("RUN_S01_20260101T000000Z_000") for run in runs)
    record = json.loads((root / runs[1] / "run_record.json").read_text())
    assert record["upstream_run_ids"] == {"S01": runs[0]} and record["run_id_mode"] == "timestamp_counter"


def test_the_worked_example_run_dir_is_the_quickstart_s05_id() -> None:
    config = load_study_config(QUICKSTART)
    example = load_canon().lookup("CANON.EXAMPLE.RUN_DIR_S05")
    assert example == f"{load_canon().lookup('CANON.PATH.RUNS_DIR')}/{phase_run_id(config, 'phase5')}"
    # the CLI with the quickstart's own device and dtype computes the same ids as runlab submit
    assert phase_run_id(load_study_config(QUICKSTART, {"device": "cpu", "dtype": "fp32"}), "phase5") == \
        phase_run_id(config, "phase5")


def test_phase6_needs_the_behaviour_section(tiny_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    config = tmp_path / "no_behaviour.yaml"
    data = yaml.safe_load(tiny_config().read_text())
    del data["avalanche_llm"]["behaviour"]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    assert _run("phase1", config, root) == 0 and _run("phase2", config, root) == 0
    capsys.readouterr()
    assert _run("phase6b", config, root) == 2
    assert "has no avalanche_llm.behaviour section" in capsys.readouterr().err


def test_phase0_checks_the_arc_file_when_phase6_is_configured(tiny_config, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("phase0", tiny_config(), tmp_path / "runs") == 0
    out = capsys.readouterr().out
    assert "phase0: ARC ARC-Challenge/test: " in out and "test-00000-of-00001.parquet (12 items)" in out


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("model", "batch_size", 10**9, "avalanche_llm.model.batch_size: 1000000000 is greater than the maximum of 4096"),
    ("events", "target_rate", float("nan"), "avalanche_llm.events.target_rate: nan is not of type 'number'"),
    ("gain", "values", [1.0, 1e300], "avalanche_llm.gain.values.1: 1e+300 is greater than the maximum of 1000"),
    ("text", "sequence_tokens", 10**6, "avalanche_llm.text.sequence_tokens: 1000000 is greater than the maximum of 8192"),
    ("metrics", "n_boot", 10**9, "avalanche_llm.metrics.n_boot: 1000000000 is greater than the maximum of 100000"),
])
def test_unbounded_knobs_are_refused_before_any_run(tmp_path, capsys, section, key, value, message) -> None:
    config = yaml.safe_load(QUICKSTART.read_text())
    config["avalanche_llm"][section][key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert _run("phase0", path, tmp_path / "runs") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "runs").exists()
