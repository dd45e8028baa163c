"""The conventions a CLI user expects: hyphenated long options (seed 002's underscore forms kept), global
options after the subcommand, --version, and unique run-id prefixes."""

from __future__ import annotations

import pytest

from runlab.cli import main

from .test_identity import _tagged


def test_hyphenated_and_underscore_options_are_the_same(make_study, capsys):
    study = make_study({"S01": _tagged(tag="S01")}, {"s01": 1, "witness_dir": None})
    assert main(["submit", str(study.manifest), "--config", str(study.config), "--runs-root", str(study.runs_root),
                 "--dry-run"]) == 0
    assert "would run" in capsys.readouterr().out and not study.runs_root.exists()
    assert main(["submit", str(study.manifest), "--config", str(study.config), "--runs_root", str(study.runs_root),
                 "--run-id-mode", "content_hash", "--allow-resume"]) == 0
    assert main(["ls", "--runs-root", str(study.runs_root)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{next(study.runs_root.glob('RUN_S01_*')).name} complete")


def test_debug_works_after_the_subcommand_and_version_prints(capsys, tmp_path):
    with pytest.raises(Exception, match="no run RUN_S01_0123456789ab"):
        main(["show", "RUN_S01_0123456789ab", "--runs-root", str(tmp_path), "--debug"])  # the traceback, not a line
    assert main(["show", "RUN_S01_0123456789ab", "--runs-root", str(tmp_path)]) == 2
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("runlab 0.1.0")


def test_a_unique_prefix_names_a_run_and_an_ambiguous_one_lists_the_matches(make_study, capsys):
    study = make_study({"S01": _tagged(tag="S01"), "S02": _tagged(["S01"], tag="S02")},
                       {"s01": 1, "s02": 2, "witness_dir": None})
    assert main(study.args("submit")) == 0
    s01 = next(study.runs_root.glob("RUN_S01_*")).name
    root = ["--runs-root", str(study.runs_root)]
    capsys.readouterr()
    assert main(["show", s01[:11], *root]) == 0 and f"run        {s01}" in capsys.readouterr().out
    assert main(["verify", s01[:10], *root]) == 0 and capsys.readouterr().out.startswith(f"{s01}: ok")
    assert main(["show", "RUN_S0", *root]) == 2
    err = capsys.readouterr().err
    assert "RUN_S0 names 2 runs under" in err and s01 in err and err.count("\n") == 1
    assert main(["show", "RUN_S09", *root]) == 2 and "no run RUN_S09" in capsys.readouterr().err
    assert main(["show", "../RUN_S01", *root]) == 2 and "invalid run id" in capsys.readouterr().err
