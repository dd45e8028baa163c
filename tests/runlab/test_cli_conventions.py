"""The conventions a CLI user expects: hyphenated long options (seed 002's underscore forms kept), global
options after the subcommand, --version, unique run-id prefixes, and a runs root found like git finds its
repository."""

from __future__ import annotations

import pytest

from runlab.cli import main

from tests.support.cli import REPO, run_cli

from .test_identity import _tagged


def test_hyphenated_and_underscore_options_are_the_same(make_study, capsys):
    study = make_study({"S01": _tagged(tag="S01")}, {"s01": 1, "witness_dir": None})
    assert main(["submit", str(study.manifest), "--config", str(study.config), "--runs-root", str(study.runs_root),
                 "--dry-run"]) == 0
    assert "would run" in capsys.readouterr().out and not study.runs_root.exists()
    assert main(["submit", str(study.manifest), "--config", str(study.config), "--runs_root", str(study.runs_root),
                 "--run-id-mode", "content_hash", "--allow-resume"]) == 0
    assert main(["ls", "--runs-root", str(study.runs_root)]) == 0
    run_id = next(study.runs_root.glob("RUN_S01_*")).name
    assert capsys.readouterr().out.strip().endswith(run_id)
    assert main(["ls", "-l", "--runs-root", str(study.runs_root)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{run_id} complete")


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


def test_logs_cancel_export_and_rm_take_a_unique_prefix_and_refuse_an_ambiguous_one(make_study, capsys, tmp_path):
    study = make_study({"S01": _tagged(tag="S01"), "S02": _tagged(["S01"], tag="S02")},
                       {"s01": 1, "s02": 2, "witness_dir": None})
    assert main(study.args("submit")) == 0
    s01, s02 = (next(study.runs_root.glob(f"RUN_{tag}_*")).name for tag in ("S01", "S02"))
    root = ["--runs-root", str(study.runs_root)]
    capsys.readouterr()
    logs = run_cli("logs", s02[:9], "--events", *root)  # logview's output bypasses capsys: a subprocess
    assert logs.returncode == 0 and logs.stdout.splitlines()[-1].endswith("  complete"), logs.stdout
    assert main(["cancel", s01[:12], *root]) == 0
    assert capsys.readouterr().out == f"nothing to cancel: run {s01} is complete, not queued or running\n"
    archive = tmp_path / "s02.tar.gz"
    assert main(["export", s02[:10], str(archive), "--with-upstream", *root]) == 0 and archive.is_file()
    for command in (["logs", "RUN_S0"], ["cancel", "RUN_S0"], ["export", "RUN_S0", str(tmp_path / "x.tar.gz")],
                    ["rm", "RUN_S0", "--force"]):
        assert main([*command, *root]) == 2, command
        err = capsys.readouterr().err
        assert err == f"runlab: error: RUN_S0 names 2 runs under {study.runs_root}: {s01}, {s02}; give more of the run id\n"
    assert sorted(path.name for path in study.runs_root.glob("RUN_*")) == [s01, s02]  # nothing removed
    assert main(["rm", s02[:9], "--force", *root]) == 0 and f"removed {s02}" in capsys.readouterr().out
    assert [path.name for path in study.runs_root.glob("RUN_*")] == [s01]


def test_the_runs_root_is_found_above_the_working_directory_like_a_git_repository(make_study):
    study = make_study({"S01": _tagged(tag="S01")}, {"s01": 1, "witness_dir": None})
    assert main(study.args("submit")) == 0
    run_id = next(study.runs_root.glob("RUN_S01_*")).name
    below = study.folder / "notes" / "today"  # a folder below the runs root's parent
    below.mkdir(parents=True)

    listing = run_cli("ls", cwd=below)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == f"{run_id}\n"
    assert listing.stderr == f"runlab: runs root {study.runs_root} (found above the working directory)\n"
    local = str(REPO / "configs" / "profiles" / "local.yaml")
    again = run_cli("submit", str(study.manifest), "--profile", local, cwd=below)  # the same runs root, not a second one under notes/
    assert again.returncode == 0, again.stderr
    assert f"runs root {study.runs_root}," in again.stdout and "already complete" in again.stdout
    assert not (below / "runs").exists() and not (study.folder / "notes" / "runs").exists()
    inside = run_cli("show", run_id[:10], cwd=study.runs_root / run_id)  # inside the runs root, too
    assert inside.returncode == 0 and f"run        {run_id}" in inside.stdout

    elsewhere = study.folder.parent / "elsewhere"  # nothing above: CANON.PATH.RUNS_DIR under the working directory
    elsewhere.mkdir()
    fresh = run_cli("submit", str(study.manifest), "--profile", local, "--dry-run", cwd=elsewhere)
    assert fresh.returncode == 0, fresh.stderr
    assert f"runs root {elsewhere / 'runs'}," in fresh.stdout and fresh.stderr == ""
    named = run_cli("ls", "--runs-root", str(study.runs_root), cwd=elsewhere, env={"RUNLAB_RUNS_ROOT": "/nonexistent"})
    assert named.stdout == f"{run_id}\n" and named.stderr == ""  # a named runs root is not searched for
    quiet = run_cli("ls", cwd=study.folder)  # where the default already points: nothing to say
    assert quiet.stdout == f"{run_id}\n" and quiet.stderr == ""
