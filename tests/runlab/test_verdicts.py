"""A stage's verdict on its result: recorded, shown apart from integrity, and exit 5 from submit when it fails."""

from __future__ import annotations

import pytest

from runlab.cli import main
from runlab.errors import ExitCode, SchemaError
from runlab.record import read_record, validate_record

from tests.support.cli import run_cli
from tests.support.stages import CHAIN

JUDGE = {"S01": {"entry": "tests.support.stages:judge"},
         "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"]}}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _status_columns(out: str) -> dict[str, dict[str, str]]:
    header, *rows, _summary = out.splitlines()
    names = header.split()
    return {cells[1]: dict(zip(names, cells)) for cells in (row.split() for row in rows)}


def test_a_failed_verdict_is_a_complete_run_that_submit_exits_5_for_and_every_view_shows(make_study, capsys):
    study = make_study(JUDGE, {"values": [1, 2, 7], "limit": 5})
    code, out, err = _cli(capsys, *study.args("submit"))
    (judged,) = study.runs_root.glob("RUN_S01_*")
    summary = "1 of 3 values exceed 5"
    assert code == ExitCode.VERDICT_FAILED == 5
    assert err == (f"runlab: error: 1 of 2 runs state a failed result: {judged.name} (S01): {summary}; "
                   f"the runs are complete and sound; see `runlab show {judged.name}`\n")
    (line,) = [line for line in out.splitlines() if judged.name in line]
    assert line.split()[2] == "ran" and line.endswith(f"; verdict FAIL: {summary}"), line
    record = read_record(judged)  # validates against the schema
    assert record["stage_status"] == "complete" and record["error"] is None
    assert {key: record["verdict"][key] for key in ("ok", "summary", "figures")} == {
        "ok": False, "summary": summary, "figures": {"over_limit": 1, "largest": 7}}
    (downstream,) = study.runs_root.glob("RUN_S02_*")
    assert read_record(downstream)["stage_status"] == "complete" and "verdict" not in read_record(downstream)

    code, out, _ = _cli(capsys, *study.args("status"))
    columns = _status_columns(out)
    assert code == 0 and columns["S01"]["VERDICT"] == "FAIL" and columns["S01"]["STATUS"] == "complete"
    assert columns["S02"]["VERDICT"] == "-"

    code, out, _ = _cli(capsys, "show", judged.name, "--runs_root", str(study.runs_root))
    assert code == 0 and f"verdict    FAIL: {summary}  (over_limit 1, largest 7)" in out.splitlines()
    code, out, _ = _cli(capsys, "show", downstream.name, "--runs_root", str(study.runs_root))
    assert "verdict    - (none stated)" in out.splitlines()

    code, out, _ = _cli(capsys, "verify", judged.name, "--runs_root", str(study.runs_root))
    assert code == 0 and out == f"{judged.name}: ok (complete, 1 artifacts rehashed); verdict FAIL: {summary}\n"
    code, out, _ = _cli(capsys, "verify", "--all", "--runs_root", str(study.runs_root))
    assert code == 0 and out.splitlines() == [
        f"{judged.name}: ok (complete, 1 artifacts rehashed); verdict FAIL: {summary}",
        f"{downstream.name}: ok (complete, 2 artifacts rehashed)"]

    code, out, err = _cli(capsys, *study.args("submit"))  # nothing to run, and the result still fails
    assert code == 5 and out.count("already complete; skipped") == 2 and f"{judged.name} (S01)" in err


def test_a_passing_verdict_exits_0_and_shows_pass(make_study, capsys):
    study = make_study(JUDGE, {"values": [1, 2, 3], "limit": 5})
    code, out, err = _cli(capsys, *study.args("submit"))
    assert code == 0 and err == "" and "verdict pass: 0 of 3 values exceed 5" in out
    assert _status_columns(_cli(capsys, *study.args("status"))[1])["S01"]["VERDICT"] == "pass"


def test_a_stage_that_states_no_verdict_has_none_and_its_record_has_no_field(make_study, capsys):
    study = make_study(CHAIN, {"values": [1]})
    assert _cli(capsys, *study.args("submit"))[0] == 0
    records = [read_record(run) for run in sorted(study.runs_root.glob("RUN_*"))]
    assert all("verdict" not in record for record in records)
    assert {row["VERDICT"] for row in _status_columns(_cli(capsys, *study.args("status"))[1]).values()} == {"-"}


@pytest.mark.parametrize(("summary", "message"), [
    ("two\nlines", "summary 'two\\nlines' is not one line of 1-200 characters"),
    ("x" * 201, "is not one line of 1-200 characters"),
])
def test_a_bad_verdict_is_one_line_exit_2_and_fails_the_run(make_study, capsys, summary, message):
    study = make_study(JUDGE, {"values": [1], "limit": 5, "summary": summary})
    code, _, err = _cli(capsys, *study.args("submit"))
    assert code == 2 and err.count("\n") == 1 and message in err, err
    (run,) = study.runs_root.glob("RUN_S01_*")
    assert read_record(run)["stage_status"] == "failed"


def test_the_schema_refuses_a_malformed_verdict_and_reads_a_record_without_one(make_study, capsys):
    study = make_study(JUDGE, {"values": [9], "limit": 5})
    _cli(capsys, *study.args("submit"))
    (run,) = study.runs_root.glob("RUN_S01_*")
    record = read_record(run)
    verdict = record["verdict"]
    validate_record({key: value for key, value in record.items() if key != "verdict"})  # an older record
    without_utc = {key: value for key, value in verdict.items() if key != "utc"}
    for bad in ({**verdict, "ok": "no"}, {**verdict, "summary": ""}, {**verdict, "figures": {"over": True}},
                {**verdict, "figures": {"Bad-Name": 1}}, without_utc):
        with pytest.raises(SchemaError, match="verdict"):
            validate_record({**record, "verdict": bad})


def test_a_failed_attempts_verdict_does_not_outlive_it(make_study, tmp_path):
    marker = tmp_path / "fail"
    marker.touch()
    study = make_study({"S01": {"entry": "tests.support.stages:judge_then_fail"}}, {"fail_marker": str(marker)})
    assert run_cli(*study.args("submit")).returncode == 1
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert read_record(run_dir)["verdict"]["ok"] is False
    marker.unlink()
    assert run_cli(*study.args("submit", "--allow-resume")).returncode == 0  # exit 0, not 5: no verdict stands
    assert "verdict" not in read_record(run_dir)
