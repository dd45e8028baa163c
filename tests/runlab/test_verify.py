"""``runlab verify`` with a stage's verifier: recorded from the manifest, run on complete runs only."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from runlab.cli import main
from runlab.errors import ConfigError, MissingUpstreamError
from runlab.formats import parquet_bytes
from runlab.record import read_record, write_record
from runlab.run import RunView
from runlab.store import RunStore

RECOMPUTE = "tests.support.stages:recompute_echo"
VERIFIED_CHAIN = {
    "S01": {"entry": "tests.support.stages:echo", "verify": RECOMPUTE},
    "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"], "verify": RECOMPUTE},
    "S03": {"entry": "tests.support.stages:echo", "needs": ["S02"]},
}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run_dirs(study) -> dict[str, Path]:
    return {path.name.split("_")[1]: path for path in study.runs_root.glob("RUN_*")}


def _verify(capsys, study, run_dir: Path, *flags: str) -> tuple[int, str, str]:
    return _cli(capsys, *flags, "verify", run_dir.name, "--runs_root", str(study.runs_root))


def _forge_values(run_dir: Path, values: list) -> None:
    """Replace a complete run's values and their index entry consistently: a rehash cannot tell."""
    data = parquet_bytes({"value": values})
    (run_dir / "results" / "values.parquet").write_bytes(data)
    record = read_record(run_dir)
    (entry,) = [item for item in record["artifact_index"] if item["relative_path"] == "results/values.parquet"]
    entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    write_record(run_dir, record)


def test_verifier_is_recorded_and_runlab_verify_runs_it(make_study, capsys):
    study = make_study(VERIFIED_CHAIN, {"values": [1, 2]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    assert [read_record(runs[tag])["verifier"] for tag in ("S01", "S02", "S03")] == [RECOMPUTE, RECOMPUTE, None]

    code, out, err = _verify(capsys, study, runs["S02"])
    assert code == 0, err
    assert out == f"{runs['S02'].name}: ok (complete, 2 artifacts rehashed, recomputed by {RECOMPUTE})\n"
    code, out, _ = _verify(capsys, study, runs["S03"])
    assert code == 0 and out == f"{runs['S03'].name}: ok (complete, 2 artifacts rehashed)\n"
    code, out, _ = _cli(capsys, "show", runs["S02"].name, "--runs_root", str(study.runs_root))
    assert code == 0 and f"verifier   {RECOMPUTE}\n" in out


def test_run_view_reads_config_and_upstream_runs(make_study, capsys):
    study = make_study(VERIFIED_CHAIN, {"values": [1, 2]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    store = RunStore(study.runs_root)
    view = RunView(store, runs["S03"].name, store.complete_record(runs["S03"].name))
    assert view.config["test"] == {"values": [1, 2]}
    assert view.upstream("S02").upstream("S01").run_id == runs["S01"].name
    with pytest.raises(ConfigError, match="stage S03 does not declare S01 upstream"):
        view.upstream("S01")
    shutil.rmtree(runs["S02"])
    with pytest.raises(MissingUpstreamError, match=f"needed by {runs['S03'].name}") as caught:
        view.upstream("S02")
    assert caught.value.exit_code == 3


def test_verifier_catches_a_result_that_rehashing_cannot(make_study, capsys):
    # S02's values are replaced, its index updated to match: every artifact still rehashes and its
    # upstream edge still holds, but S02's values no longer follow from S01's: only its verifier can tell.
    study = make_study(VERIFIED_CHAIN, {"values": [1, 2, 3]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    _forge_values(runs["S02"], [2, 8, 10])

    code, out, err = _verify(capsys, study, runs["S02"])
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines == [
        "  results/values.parquet: row 2 holds 10, recomputed 4",
        f"runlab: error: run {runs['S02'].name} does not verify: results/values.parquet: row 1 holds 8, "
        "recomputed 3 (+1 more above); the run is damaged; move it away and submit again to recompute it",
    ]
    # S03 read S02 before the forgery: its edge is broken, which submit's rehash sees too
    code, out, err = _verify(capsys, study, runs["S03"])
    assert code == 2 and f"upstream {runs['S02'].name} (S02) changed since this run read it" in err
    again = _cli(capsys, *study.args("submit"))
    assert again[0] == 2 and f"complete run {runs['S03'].name} does not verify: upstream {runs['S02'].name}" in again[2]


def test_a_replaced_upstream_breaks_the_edge_of_every_run_that_read_it(make_study, capsys):
    study = make_study({**VERIFIED_CHAIN, "S01": {"entry": "tests.support.stages:echo"}}, {"values": [1, 2, 3]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    _forge_values(runs["S01"], [1, 7, 9])  # rehashes, but is not what S02 read
    assert _verify(capsys, study, runs["S01"])[0] == 0
    code, _, err = _verify(capsys, study, runs["S02"])
    assert code == 2 and err.count("\n") == 1
    assert f"does not verify: upstream {runs['S01'].name} (S01) changed since this run read it (artifact digest" in err
    code, out, err = _cli(capsys, "verify", "--all", "--runs_root", str(study.runs_root))
    assert code == 2 and out.splitlines() == [
        f"{runs['S01'].name}: ok (complete, 2 artifacts rehashed)",
        f"{runs['S02'].name}: does not verify: upstream {runs['S01'].name} (S01) changed since this run read it "
        f"(artifact digest {out.split('artifact digest ')[1][:12]}, recorded {out.split('recorded ')[1][:12]})",
        f"{runs['S03'].name}: ok (complete, 2 artifacts rehashed)",
    ]
    assert "1 of 3 runs" in err


def test_verifier_that_finds_its_upstream_gone_reports_one_line(make_study, capsys):
    study = make_study(VERIFIED_CHAIN, {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    shutil.rmtree(runs["S01"])
    code, _, err = _verify(capsys, study, runs["S02"])
    assert code == 2 and err.count("\n") == 1
    assert f"does not verify: upstream {runs['S01'].name} (S01) is missing" in err


def test_verifier_runs_only_after_the_run_checks_out(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:echo", "verify": "tests.support.stages:crashing_verifier"}},
                       {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    (run_dir,) = _run_dirs(study).values()
    (run_dir / "logs" / "stray.json").write_text("{}")
    code, _, err = _verify(capsys, study, run_dir)
    assert code == 2 and "logs/stray.json: not in the artifact index" in err and "KeyError" not in err


def test_verifier_is_not_run_on_an_incomplete_run(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:fail", "verify": "tests.support.stages:crashing_verifier"}},
                       {})
    assert _cli(capsys, *study.args("submit"))[0] == 1
    (run_dir,) = _run_dirs(study).values()
    assert read_record(run_dir)["verifier"] == "tests.support.stages:crashing_verifier"
    code, out, err = _verify(capsys, study, run_dir)
    assert code == 0 and out == f"{run_dir.name}: ok (failed, 1 artifacts rehashed)\n", err


@pytest.mark.parametrize(("verifier", "code", "message"), [
    ("crashing_verifier", 1, "runlab: error: KeyError: 'no such column'; rerun with --debug for the traceback"),
    ("verifier_without_lines", 2, "verifier tests.support.stages:verifier_without_lines returned NoneType, "
                                  "not a list of problem lines"),
])
def test_broken_verifier_is_one_line(make_study, capsys, verifier, code, message):
    study = make_study({"S01": {"entry": "tests.support.stages:echo", "verify": f"tests.support.stages:{verifier}"}},
                       {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0  # submit rehashes only: the verifier is not called
    (run_dir,) = _run_dirs(study).values()
    result = _verify(capsys, study, run_dir)
    assert result[0] == code and result[2].count("\n") == 1 and message in result[2], result


def test_debug_shows_a_crashing_verifier_traceback(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:echo", "verify": "tests.support.stages:crashing_verifier"}},
                       {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    (run_dir,) = _run_dirs(study).values()
    with pytest.raises(KeyError, match="no such column"):
        _verify(capsys, study, run_dir, "--debug")


def test_verifier_that_no_longer_imports_is_one_line(make_study, capsys):
    study = make_study(VERIFIED_CHAIN, {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    run_dir = _run_dirs(study)["S01"]
    record = json.loads((run_dir / "run_record.json").read_text())
    record["verifier"] = "tests.support.stages:gone"
    write_record(run_dir, record)
    code, _, err = _verify(capsys, study, run_dir)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("runlab: error: cannot import verifier tests.support.stages:gone") and "PYTHONPATH" in err


def test_verify_all_gives_one_line_per_run_and_fails_if_any_does(make_study, capsys):
    study = make_study(VERIFIED_CHAIN, {"values": [1, 2]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    every = ("verify", "--all", "--runs_root", str(study.runs_root))
    code, out, err = _cli(capsys, *every)
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"{runs['S01'].name}: ok (complete, 2 artifacts rehashed, recomputed by {RECOMPUTE})",
        f"{runs['S02'].name}: ok (complete, 2 artifacts rehashed, recomputed by {RECOMPUTE})",
        f"{runs['S03'].name}: ok (complete, 2 artifacts rehashed)",
    ]

    damaged = runs["S02"] / "results" / "values.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")  # same size, other bytes
    (runs["S03"] / "logs" / "stray.json").write_text("{}")
    code, out, err = _cli(capsys, *every)
    assert code == 2
    assert out.splitlines() == [
        f"{runs['S01'].name}: ok (complete, 2 artifacts rehashed, recomputed by {RECOMPUTE})",
        f"{runs['S02'].name}: does not verify: results/values.parquet: sha256 differs from the record",
        f"{runs['S03'].name}: does not verify: logs/stray.json: not in the artifact index",
    ]
    assert err == (f"runlab: error: 2 of 3 runs under {study.runs_root} do not verify; "
                   "see `runlab verify RUN_ID` for every problem of one run\n")


def test_verify_all_reports_a_broken_verifier_as_that_runs_line(make_study, capsys):
    study = make_study({"S01": {"entry": "tests.support.stages:echo", "verify": "tests.support.stages:crashing_verifier"},
                        "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"]}}, {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    runs = _run_dirs(study)
    code, out, _ = _cli(capsys, "verify", "--all", "--runs_root", str(study.runs_root))
    assert code == 2 and out.splitlines() == [
        f"{runs['S01'].name}: does not verify: KeyError: 'no such column'",
        f"{runs['S02'].name}: ok (complete, 2 artifacts rehashed)",
    ]
    with pytest.raises(KeyError, match="no such column"):
        _cli(capsys, "--debug", "verify", "--all", "--runs_root", str(study.runs_root))


@pytest.mark.parametrize(("args", "message"), [
    (("--all",), "no runs under {root}; pass --runs_root"),
    (("RUN_S01_0123456789ab", "--all"), "argument --all: not allowed with argument run_id"),
    ((), "one of the arguments run_id --all is required"),
])
def test_verify_all_usage_errors_are_one_line_exit_2(tmp_path, capsys, args, message):
    root = tmp_path / "runs"
    root.mkdir()
    code, out, err = _cli(capsys, "verify", *args, "--runs_root", str(root))
    assert code == 2 and out == "" and err.count("\n") == 1 and message.format(root=root) in err, err
