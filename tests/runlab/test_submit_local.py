"""The local executor end to end: chains, arrays, idempotence, races, crashes and resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from runlab.eventlog import read_events
from runlab.layout import is_runtime_log
from tests.support.stages import CHAIN
from tests.support.cli import REPO, cli_environment, run_cli
from tests.support.artifacts import artifact_bytes


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run_record.json").read_text())


def test_chain_runs_in_order_and_second_submit_skips(make_study):
    study = make_study(CHAIN, {"values": [1, 2, 3]})
    first = run_cli(*study.args("submit"))
    assert first.returncode == 0, first.stderr
    runs = sorted(study.runs_root.glob("RUN_*"))
    assert [run.name.split("_")[1] for run in runs] == ["S01", "S02", "S03"]
    final = pq.read_table(runs[2] / "results" / "values.parquet").column("value").to_pylist()
    assert final == [3, 4, 5]
    s03 = _record(runs[2])
    assert s03["stage_status"] == "complete"
    assert s03["upstream_run_ids"] == {"S02": runs[1].name}

    second = run_cli(*study.args("submit"))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already complete; skipped") == 3
    assert _record(runs[2]) == s03  # a complete run is never rewritten


def test_same_config_gives_same_ids_and_bytes_in_two_roots(make_study):
    study = make_study(CHAIN, {"values": [0.1, 2.5]})
    other_root = study.folder / "runs_again"
    assert run_cli(*study.args("submit")).returncode == 0
    assert run_cli(*study.args("submit")[:-2], "--runs_root", str(other_root), "--profile", "local").returncode == 0
    first = sorted(path.name for path in study.runs_root.glob("RUN_*"))
    second = sorted(path.name for path in other_root.glob("RUN_*"))
    assert first == second
    for run_id in first:
        assert artifact_bytes(study.runs_root / run_id) == artifact_bytes(other_root / run_id)
        assert (study.runs_root / run_id / "config_resolved.yaml").read_bytes() == (
            other_root / run_id / "config_resolved.yaml").read_bytes()


def test_array_fans_into_one_run_and_resume_runs_only_missing_tasks(make_study, tmp_path):
    witness, marker = tmp_path / "witness", tmp_path / "fail"
    witness.mkdir()
    marker.touch()
    stages = {"S01": {"entry": "tests.support.stages:shard", "array": 6, "fan_in": "tests.support.stages:gather"}}
    study = make_study(stages, {"witness_dir": str(witness), "fail_marker": str(marker)})
    failed = run_cli(*study.args("submit"))
    assert failed.returncode == 1 and "task 3 told to fail" in failed.stderr
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert _record(run_dir)["stage_status"] == "failed" and _record(run_dir)["array"]["done"] == [0, 1, 2]

    marker.unlink()
    result = run_cli(*study.args("submit", "--allow_resume"))
    assert result.returncode == 0, result.stderr
    assert "array task 5 done (3/3)" in result.stdout
    executed = sorted(name.split("_")[1] for name in os.listdir(witness))
    assert executed == ["shard0", "shard1", "shard2", "shard3", "shard3", "shard4", "shard5"]
    record = _record(run_dir)
    assert record["stage_status"] == "complete" and record["array"] == {"size": 6, "done": [0, 1, 2, 3, 4, 5]}
    assert pq.read_table(run_dir / "results" / "gathered.parquet").column("task").to_pylist() == list(range(6))
    indexed = [entry["relative_path"] for entry in record["artifact_index"]]
    assert [path for path in indexed if not is_runtime_log(path)] == [
        *(f"data/shard_{task:04d}.json" for task in range(6)), "results/gathered.parquet"]
    assert "logs/events.jsonl" in indexed
    events = read_events(run_dir)
    assert events[0]["event"] == "created" and events[-1]["event"] == "complete"
    started = [(event["attempt"], event["part"]) for event in events if event["event"] == "attempt_started"]
    assert started == [(1, "task-0000"), (2, "task-0001"), (3, "task-0002"), (4, "task-0003"),
                       (5, "task-0003"), (6, "task-0004"), (7, "task-0005"), (8, "fan-in")]
    (failure,) = [event for event in events if event["event"] == "failed"]
    assert failure["part"] == "task-0003" and "task 3 told to fail" in failure["error"]
    assert sum(event["event"] == "task_done" for event in events) == 6


def test_failed_stage_is_recorded_and_blocks_downstream(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:fail"},
                        "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"]}}, {"values": [1]})
    result = run_cli(*study.args("submit"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "ValueError: this stage always fails" in result.stderr
    (run_dir,) = study.runs_root.glob("RUN_*")
    record = _record(run_dir)
    assert record["stage_status"] == "failed"
    assert record["error"]["message"] == "ValueError: this stage always fails"
    again = run_cli(*study.args("submit"))
    assert again.returncode == 4 and "--allow_resume" in again.stderr
    resumed = run_cli(*study.args("submit", "--allow_resume"))
    assert resumed.returncode == 1
    assert _record(run_dir)["timings"]["attempts"] == 2


def test_thirty_two_racing_submits_execute_each_stage_once(make_study, tmp_path):
    witness = tmp_path / "witness"
    witness.mkdir()
    study = make_study(CHAIN, {"values": [7], "sleep_s": 0.5, "witness_dir": str(witness)})
    racers = [subprocess.Popen([sys.executable, "-m", "runlab", *study.args("submit")], cwd=REPO,
                               env=cli_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(32)]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 32, [err for _, err in outputs if err]
    executions = sorted(name.split("_")[0] for name in os.listdir(witness))
    assert executions == ["S01", "S02", "S03"], [out for out, _ in outputs if "ran" in out]
    assert all(_record(run)["stage_status"] == "complete" for run in study.runs_root.glob("RUN_*"))


def test_sigkill_mid_write_leaves_incomplete_run_that_resume_completes_identically(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:big_writer"}}, {"blocks": 6, "block_mb": 24})
    process = subprocess.Popen([sys.executable, "-m", "runlab", *study.args("submit")], cwd=REPO,
                               env=cli_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(study.runs_root.glob("RUN_S01_*/data/block_002.bin")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert _record(run_dir)["stage_status"] == "started"

    refused = run_cli(*study.args("submit"))
    assert refused.returncode == 4, refused.stderr
    resumed = run_cli(*study.args("submit", "--allow_resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert not [path for path in run_dir.rglob("*.tmp")]

    clean_root = study.folder / "clean"
    assert run_cli(*study.args("submit")[:-2], "--runs_root", str(clean_root), "--profile", "local").returncode == 0
    resumed_bytes = artifact_bytes(run_dir)
    clean_bytes = artifact_bytes(clean_root / run_dir.name)
    assert sorted(resumed_bytes) == [f"data/block_{block:03d}.bin" for block in range(6)]
    assert {k: hashlib.sha256(v).hexdigest() for k, v in resumed_bytes.items()} == {
        k: hashlib.sha256(v).hexdigest() for k, v in clean_bytes.items()}
    assert run_cli("verify", run_dir.name, "--runs_root", str(study.runs_root)).returncode == 0


def test_checkpointed_stage_resumes_where_it_stopped(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:count"}}, {"steps": 30, "step_s": 0.05})
    process = subprocess.Popen([sys.executable, "-m", "runlab", *study.args("submit")], cwd=REPO,
                               env=cli_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = None
    deadline = time.monotonic() + 60
    while checkpoint is None or json.loads(checkpoint.read_text())["next"] < 5:
        assert time.monotonic() < deadline
        found = list(study.runs_root.glob("RUN_S01_*/.checkpoint/state.json"))
        checkpoint = found[0] if found else None
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert run_cli(*study.args("submit", "--allow_resume")).returncode == 0
    state = json.loads(checkpoint.read_text())
    assert state["starts"][0] == 0 and state["starts"][1] >= 5 and state["next"] == 30
    result = pq.read_table(checkpoint.parents[1] / "results" / "count.parquet").to_pydict()
    assert result == {"steps": [30], "sum_of_squares": [sum(step * step for step in range(30))]}


def test_dry_run_writes_nothing(make_study):
    study = make_study(CHAIN, {"values": [1]})
    result = run_cli(*study.args("submit", "--dry_run"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would run") == 3
    assert not study.runs_root.exists()


def test_timestamp_counter_mode_makes_a_new_run_each_time(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:echo"}}, {"values": [1]})
    for _ in range(2):
        assert run_cli(*study.args("submit", "--run_id_mode", "timestamp_counter")).returncode == 0
    runs = sorted(path.name for path in study.runs_root.glob("RUN_S01_*"))
    assert len(runs) == 2 and all(len(name.split("_")) == 4 for name in runs)


def test_missing_upstream_is_exit_3(make_study):
    study = make_study(CHAIN, {"values": [1]})
    result = run_cli(*study.args("exec-stage", "--stage", "S02"))
    assert result.returncode == 3
    assert result.stderr.startswith("runlab: error: upstream run RUN_S01_") and result.stderr.count("\n") == 1
    assert not study.runs_root.exists()


def test_quickstart_pipeline_runs_and_verifies(tmp_path):
    runs_root = tmp_path / "runs"
    result = run_cli("submit", "jobs/quickstart.yaml", "--runs_root", str(runs_root))
    assert result.returncode == 0, result.stderr
    run_ids = sorted(path.name for path in runs_root.glob("RUN_*"))
    assert len(run_ids) == 3
    for run_id in run_ids:
        assert run_cli("verify", run_id, "--runs_root", str(runs_root)).returncode == 0
    (report,) = runs_root.glob("RUN_S03_*")
    table = pq.read_table(report / "tables" / "table_T01_PI_ESTIMATE.parquet").to_pydict()
    assert len(table["task"]) == 8 and abs(table["pi_estimate"][-1] - 3.14159) < 0.01
    assert {path.name for path in (report / "figs").iterdir()} == {
        "fig_F01_CONVERGENCE.pdf", "fig_F01_CONVERGENCE.png"}


def test_exec_stage_runs_array_tasks_then_fan_in_as_hand_written_sbatch_would(make_study):
    stages = {"S01": {"entry": "tests.support.stages:shard", "array": 3, "fan_in": "tests.support.stages:gather"}}
    study = make_study(stages, {})
    early = run_cli(*study.args("exec-stage", "--stage", "S01", "--fan-in"))
    assert early.returncode == 3 and "does not exist" in early.stderr
    for task in range(3):
        env = {"SLURM_ARRAY_JOB_ID": "4242", "SLURM_JOB_ID": str(4300 + task), "SLURM_ARRAY_TASK_ID": str(task)}
        result = run_cli(*study.args("exec-stage", "--stage", "S01", "--array-index", str(task)), env=env)
        assert result.returncode == 0, result.stderr
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    record = _record(run_dir)
    assert record["executor"] == "slurm" and record["slurm"]["array_job_id"] == "4242"
    assert record["timings"]["attempts"] == 3 and record["stage_status"] == "started"
    done = run_cli(*study.args("exec-stage", "--stage", "S01", "--fan-in"))
    assert done.returncode == 0 and "complete (3 tasks)" in done.stdout
    assert pq.read_table(run_dir / "results" / "gathered.parquet").column("task").to_pylist() == [0, 1, 2]
