"""The launcher on a real one-node SLURM cluster (slurm/one-node/start.sh): chains, arrays, requeue, races, containers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from runlab.eventlog import read_events
from tests.support.slurm import wait_complete

from tests.support.stages import CHAIN
from tests.support.cli import REPO, cli_environment, run_cli
from tests.support.artifacts import artifact_bytes

pytestmark = pytest.mark.slurm
PROFILE = str(REPO / "configs" / "profiles" / "one-node.yaml")
FAKE_RUNTIME = Path(__file__).parent / "data" / "container" / "fake-runtime.sh"


def _submit(study, *extra: str, profile: str = PROFILE) -> subprocess.CompletedProcess:
    result = run_cli(*study.args("submit", *extra, profile=profile))
    assert result.returncode == 0, result.stderr
    return result


def _queued_jobs(stdout: str) -> dict[str, list[str]]:
    """Stage tag -> job ids from submit's 'queued' lines."""
    jobs = {}
    for line in stdout.splitlines():
        match = re.match(r"(\S+)\s+RUN_\S+\s+queued\s+SLURM job\(s\) (\S+)", line)
        if match:
            jobs[match.group(1)] = match.group(2).split(",")
    return jobs


def test_three_stage_chain_is_queued_with_afterok_dependencies(make_study):
    study = make_study(CHAIN, {"values": [1, 2]})
    result = _submit(study)
    jobs = _queued_jobs(result.stdout)
    assert sorted(jobs) == ["S01", "S02", "S03"]
    assert f"after {jobs['S01'][-1]}" in result.stdout and f"after {jobs['S02'][-1]}" in result.stdout
    status = run_cli("status", str(study.manifest), "--config", str(study.config), "--runs_root", str(study.runs_root))
    assert status.returncode == 0 and status.stdout.count("RUN_S0") == 3
    record = wait_complete(study.runs_root, "S03")
    assert record["executor"] == "slurm" and record["slurm"]["job_id"] == jobs["S03"][0]
    (s03,) = study.runs_root.glob("RUN_S03_*")
    assert pq.read_table(s03 / "results" / "values.parquet").column("value").to_pylist() == [3, 4]
    again = _submit(study)
    assert again.stdout.count("already complete; skipped") == 3 and not _queued_jobs(again.stdout)


def test_a_slurm_jobs_output_is_kept_in_its_run_and_runlab_logs_shows_both(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:chatty"}}, {"lines": 2, "steps": 3})
    jobs = _queued_jobs(_submit(study).stdout)
    record = wait_complete(study.runs_root, "S01")
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert (run_dir / "logs/attempts/001-stage.out").read_text() == (
        "first line from the stage\nline 0\nline 1\nfrom a child process\n")
    events = [event for event in read_events(run_dir) if event["event"] == "attempt_started"]
    assert [(event["slurm_job_id"], event["executor"]) for event in events] == [(jobs["S01"][0], "slurm")]
    assert record["slurm"]["job_id"] == jobs["S01"][0]
    shown = run_cli("logs", run_dir.name, "--runs-root", str(study.runs_root)).stdout
    assert f"SLURM job {jobs['S01'][0]}) ==" in shown.splitlines()[0] and "line 1" in shown
    scheduler = run_cli("logs", run_dir.name, "--scheduler", "--runs-root", str(study.runs_root))
    assert scheduler.returncode == 0 and f"{jobs['S01'][0]}_0_log.out ==" in scheduler.stdout
    assert "line 1" in scheduler.stdout  # the job's own file has the stage's output too


def test_fifty_task_array_fans_into_one_run(make_study):
    stages = {"S01": {"entry": "tests.support.stages:shard", "array": 50, "fan_in": "tests.support.stages:gather"}}
    study = make_study(stages, {})
    jobs = _queued_jobs(_submit(study).stdout)["S01"]
    assert len(jobs) == 2  # one sbatch --array and its fan-in
    record = wait_complete(study.runs_root, "S01")
    assert record["array"] == {"size": 50, "done": list(range(50))}
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    gathered = pq.read_table(run_dir / "results" / "gathered.parquet").to_pydict()
    assert gathered["task"] == list(range(50)) and len(set(gathered["value"])) == 50
    local_root = study.folder / "local"
    assert run_cli(*study.args("submit")[:-4], "--runs_root", str(local_root), "--profile", "local").returncode == 0
    assert artifact_bytes(run_dir) == artifact_bytes(local_root / run_dir.name)


def test_array_larger_than_max_array_size_is_split(make_study, tmp_path):
    profile = tmp_path / "small-arrays.yaml"
    profile.write_text("schema_version: 1\nexecutor: slurm\nslurm: {partition: debug, max_array_size: 5}\n")
    stages = {"S01": {"entry": "tests.support.stages:shard", "array": 12, "fan_in": "tests.support.stages:gather"}}
    study = make_study(stages, {})
    result = _submit(study, profile=str(profile))
    jobs = _queued_jobs(result.stdout)["S01"]
    assert len(jobs) == 4  # arrays of 5, 5 and 2 tasks, then the fan-in after all three
    assert wait_complete(study.runs_root, "S01")["array"]["done"] == list(range(12))


def test_requeued_job_resumes_from_checkpoint_with_identical_bytes(make_study):
    study = make_study({"S01": {"entry": "tests.support.stages:count"}}, {"steps": 40, "step_s": 0.25})
    (job,) = _queued_jobs(_submit(study).stdout)["S01"]
    deadline = time.monotonic() + 120
    checkpoint = None
    while checkpoint is None or json.loads(checkpoint.read_text())["next"] < 5:
        assert time.monotonic() < deadline, "the job never reached step 5"
        found = list(study.runs_root.glob("RUN_S01_*/.checkpoint/state.json"))
        checkpoint = found[0] if found else None
        time.sleep(0.1)
    subprocess.run(["scontrol", "requeue", job], check=True)
    record = wait_complete(study.runs_root, "S01")
    state = json.loads(checkpoint.read_text())
    assert state["starts"][0] == 0 and state["starts"][1] >= 5, state
    assert record["slurm"]["restart_count"] == 1 and record["timings"]["attempts"] == 2
    run_dir = checkpoint.parents[1]
    local_root = study.folder / "uninterrupted"
    assert run_cli(*study.args("submit")[:-4], "--runs_root", str(local_root), "--profile", "local").returncode == 0
    assert artifact_bytes(run_dir) == artifact_bytes(local_root / run_dir.name)


def test_thirty_two_racing_submits_queue_one_set_of_jobs(make_study, tmp_path):
    witness = tmp_path / "witness"
    witness.mkdir()
    study = make_study(CHAIN, {"values": [5], "witness_dir": str(witness)})
    command = [sys.executable, "-m", "runlab", *study.args("submit", profile=PROFILE)]
    racers = [subprocess.Popen(command, cwd=REPO, env=cli_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(32)]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 32, [err for _, err in outputs if err][:3]
    queued = [_queued_jobs(out) for out, _ in outputs]
    for tag in ("S01", "S02", "S03"):
        assert sum(tag in jobs for jobs in queued) == 1, tag
    wait_complete(study.runs_root, "S03")
    assert sorted(name.split("_")[0] for name in os.listdir(witness)) == ["S01", "S02", "S03"]


def test_chain_links_are_queued_one_after_another(make_study):
    stages = {"S01": {"entry": "tests.support.stages:echo"},
              "GEN": {"entry": "tests.support.stages:chain_link", "needs": ["S01"], "chain": "test.links"}}
    study = make_study(stages, {"values": [5], "links": 3})
    result = _submit(study)
    jobs = _queued_jobs(result.stdout)
    assert sorted(jobs) == ["GEN000", "GEN001", "GEN002", "S01"]
    after = {tag: set(re.search(r"after (\S+)", line).group(1).split(","))
             for line in result.stdout.splitlines() for tag in ("GEN001", "GEN002") if line.startswith(tag)}
    assert after == {"GEN001": {jobs["S01"][-1], jobs["GEN000"][-1]}, "GEN002": {jobs["S01"][-1], jobs["GEN001"][-1]}}
    wait_complete(study.runs_root, "GEN002")
    (last,) = study.runs_root.glob("RUN_GEN002_*")
    assert pq.read_table(last / "results" / "values.parquet").column("value").to_pylist() == [8]


@pytest.mark.parametrize("runtime", ["apptainer", "podman", "docker"])
def test_container_job_gets_the_job_variables_and_completes(make_study, tmp_path, runtime):
    # data/container/fake-runtime.sh stands in for the runtime: it passes the job only the variables that
    # runtime would, so the command must survive sbatch and srun and hand the job what it needs
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FAKE_RUNTIME, bin_dir / runtime)
    (bin_dir / runtime).chmod(0o755)
    profile = yaml.safe_load((REPO / "configs" / "profiles" / "one-node.yaml").read_text())
    profile["container"] = {"runtime": runtime, "image": "suite-image", "binds": [str(tmp_path)]}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    study = make_study({"S01": {"entry": "tests.support.stages:echo"}}, {"values": [1, 2]}, determinism={"seed": 11})
    log = tmp_path / "runtime.log"
    python_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}{os.pathsep}{python_bin}{os.pathsep}{os.environ['PATH']}",
           "RUNLAB_FAKE_RUNTIME_LOG": str(log), "RUNLAB_FAKE_IMAGE_PATH": f"{python_bin}:/usr/bin:/bin"}
    result = run_cli(*study.args("submit", profile=str(tmp_path / "profile.yaml")), env=env)
    assert result.returncode == 0, result.stderr
    (job_id,) = _queued_jobs(result.stdout)["S01"]

    record = wait_complete(study.runs_root, "S01")
    assert record["executor"] == "slurm" and record["slurm"]["job_id"] == job_id  # SLURM_* reached the job
    assert record["determinism"]["python"]["hash_seed_in_effect"]  # PYTHONHASHSEED from the sbatch setup
    words = log.read_text().splitlines()
    root = str(study.runs_root.resolve())
    if runtime == "apptainer":
        assert words[:4] == ["apptainer", "exec", "--bind", root] and "--nv" not in words
    else:
        assert f"{root}:{root}" in words and words[words.index("--workdir") + 1] == str(REPO)
        assert words[-6:-1] == ["python", "suite-image", "-u", "-m", "submitit.core._submit"]


def _sbatch_logger(folder: Path) -> tuple[dict[str, str], Path]:
    """A ``sbatch`` first on PATH that logs each call's arguments and runs the real one."""
    folder.mkdir()
    log = folder / "calls.log"
    script = folder / "sbatch"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("sbatch")} "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}, log


def _wait_all(runs_root: Path, tag: str, count: int, timeout_s: float = 300) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = [json.loads(path.read_text()) for path in runs_root.glob(f"RUN_{tag}_*/run_record.json")]
        assert not [record["error"] for record in records if record["stage_status"] == "failed"]
        if len(records) == count and all(record["stage_status"] == "complete" for record in records):
            return records
        time.sleep(0.5)
    raise AssertionError(f"{count} runs of {tag} did not complete in {timeout_s} s")


def test_a_sweep_queues_one_job_array_per_stage(make_study, tmp_path):
    from .test_identity import _tagged

    stages = {"S00": _tagged(tag="S00"), "S01": _tagged(tag="S01"), "S02": _tagged(["S01"], tag="S02"),
              "S03": _tagged(["S02"], tag="S03")}
    study = make_study(stages, {"s00": 5, "s01": 1, "s02": 10, "s03": 100, "witness_dir": None})
    env, log = _sbatch_logger(tmp_path / "bin")
    result = run_cli(*study.args("submit", "--sweep", "test.s01=1,2", "--sweep", "test.s02=10,20,30",
                                 profile=PROFILE), env=env)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 4  # S00 once, then one array each for S01 (2 runs), S02 (6) and S03 (6); not 15 sbatch
    jobs = {tag: [line.split("SLURM job(s) ")[1].split()[0] for line in result.stdout.splitlines()
                  if line.startswith(tag)] for tag in ("S00", "S01", "S02", "S03")}
    assert [len(jobs[tag]) for tag in jobs] == [1, 2, 6, 6]
    s02_array = jobs["S02"][0].split("_")[0]
    assert jobs["S02"] == [f"{s02_array}_{task}" for task in range(6)]
    assert jobs["S03"] == [f"{jobs['S03'][0].split('_')[0]}_{task}" for task in range(6)]
    assert f"after {jobs['S02'][4]}" in next(line for line in result.stdout.splitlines() if jobs["S03"][4] in line)
    s03 = _wait_all(study.runs_root, "S03", 6)
    values = sorted(pq.read_table(path / "results/values.parquet").column("value")[0].as_py()
                    for path in study.runs_root.glob("RUN_S03_*"))
    assert values == sorted(100 + s02 + s01 for s01 in (1, 2) for s02 in (10, 20, 30))
    assert {record["slurm"]["array_job_id"] for record in s03} == {jobs["S03"][0].split("_")[0]}
    again = run_cli(*study.args("submit", "--sweep", "test.s01=1,2", "--sweep", "test.s02=10,20,30",
                                profile=PROFILE), env=env)
    assert again.returncode == 0 and again.stdout.count("already complete; skipped") == 1 + 2 + 6 + 6
    assert len(log.read_text().splitlines()) == 4


def _job_fields(job_id: str) -> dict[str, str]:
    """``scontrol show job`` of one job as field -> value (slurmctld keeps ended jobs for MinJobAge)."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner", job_id], capture_output=True, text=True,
                           check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", shown))


def test_a_partition_class_and_extra_sbatch_args_reach_the_jobs(make_study, tmp_path):
    mark = f"runlab-{tmp_path.name}"
    profile = tmp_path / "classes.yaml"
    profile.write_text(yaml.safe_dump({"schema_version": 1, "executor": "slurm", "slurm": {
        "partition": "debug", "sbatch_args": {"comment": f"{mark}-top"},
        "classes": {"small": {"partition": "debug", "sbatch_args": {"comment": f"{mark}-small"},
                              "resources": {"mem_gb": 0.25}}},
        "stage_resources": {"S02": {"time_min": 7}}, "sbatch_per_s": 20, "signal_delay_s": 30}}))
    stages = {"S01": {"entry": "tests.support.stages:echo"},
              "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"],
                      "resources": {"mem_gb": 2, "partition_class": "small"}}}
    study = make_study(stages, {"values": [1]})
    jobs = _queued_jobs(_submit(study, profile=str(profile)).stdout)
    top, small = _job_fields(jobs["S01"][0]), _job_fields(jobs["S02"][0])
    assert (top["Partition"], top["Comment"], top["MinMemoryNode"]) == ("debug", f"{mark}-top", "1G")
    assert (small["Partition"], small["Comment"]) == ("debug", f"{mark}-small")
    assert small["MinMemoryNode"] == "256M" and small["TimeLimit"] == "00:07:00"  # the class's, then the stage's
    assert small["Requeue"] == "1"
    assert wait_complete(study.runs_root, "S02")["slurm"]["job_id"] == jobs["S02"][0]
