"""Runtime benchmarks against named baselines; prints one table (no assertions: numbers, not tests).

    .venv/bin/python -m bench.runtime            # all rows; SLURM rows need slurm/one-node/start.sh
    .venv/bin/python -m bench.runtime --no-slurm

Targets (issue 3): local overhead < 1 s per job, 1000-task array in one sbatch < 10 s,
``runlab status`` over 1000 jobs (target: one batched query), 32 racing submitters resolved < 5 s.
Issue 16: a 1000-config sweep in one sbatch per stage (baseline: one sbatch per config); an EVAL-only
change of margin_repair re-runs EVAL alone (baseline: the whole pipeline); a hunt extended by one
generation runs one generation and its report (baseline: the whole longer hunt).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.processes import REPO, bench_env
from runlab.canon import load_registry
from runlab.config import resolve_config
from runlab.ledger import Claim, Ledger
from runlab.launcher import SubmitOptions, Submitter
from runlab.manifest import load_manifest
from runlab.plan import plan_config
from runlab.profile import load_profile
from runlab.record import host_name
from runlab.store import RunStore

ENV = bench_env()


def write_study(folder: Path, stages: dict, value: int = 0) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"schema_version": 1, "study": "bench", "canon": str(REPO / "spec" / "00_CANONICAL.md"),
                "config": "config.yaml", "python_path": [str(REPO)], "stages": stages}
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (folder / "config.yaml").write_text(yaml.safe_dump({"bench": {"value": value}}))
    return folder / "manifest.yaml", folder / "config.yaml"


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def local_overhead(work: Path, jobs: int = 30) -> list[tuple[str, float, str, float, str]]:
    """Per-job cost of a one-stage submit in-process, and of the whole CLI in a fresh process."""
    manifest_path, config_path = write_study(work / "local", {"S01": {"entry": "bench.stages:noop"}})
    manifest = load_manifest(manifest_path)
    registry = load_registry(manifest.canon)
    profile = load_profile(REPO / "configs" / "profiles" / "local.yaml")
    store = RunStore(work / "local" / "runs")
    times = []
    for value in range(jobs):
        config_path.write_text(yaml.safe_dump({"bench": {"value": value}}))
        config = resolve_config(config_path, registry)
        times.append(timed(lambda: Submitter([plan_config(manifest, config)], profile, store, SubmitOptions(),
                                             say=lambda line: None).submit()))
    floor = []
    for value in range(jobs):
        target = work / f"floor_{value}.json"
        def write_by_hand() -> None:
            with open(target.with_suffix(".tmp"), "w") as handle:
                handle.write(f'{{"value": {value}}}\n')
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(target.with_suffix(".tmp"), target)
        floor.append(timed(write_by_hand))
    config_path.write_text(yaml.safe_dump({"bench": {"value": -1}}))
    cli = statistics.median(
        timed(lambda: subprocess.run([sys.executable, "-m", "runlab", "submit", str(manifest_path), "--runs_root",
                                      str(work / f"cli_runs_{attempt}")], env=ENV, check=True, capture_output=True))
        for attempt in range(5))
    start_up = statistics.median(
        timed(lambda: subprocess.run([sys.executable, "-c", "import runlab.cli"], env=ENV, check=True))
        for _ in range(5))
    return [
        ("local job, in-process (median of %d)" % jobs, statistics.median(times),
         "hand-written fsync+rename of the artifact", statistics.median(floor), "< 1 s"),
        ("local job, `runlab submit` CLI (median of 5)", cli, "`python -c 'import runlab.cli'`", start_up, "< 1 s"),
    ]


def racers(work: Path, count: int = 32, profile: str = "local") -> tuple[float, float]:
    """Wall time until ``count`` concurrent submits of one 3-stage config have all exited."""
    stages = {"S01": {"entry": "bench.stages:noop"}, "S02": {"entry": "bench.stages:noop", "needs": ["S01"]},
              "S03": {"entry": "bench.stages:noop", "needs": ["S02"]}}
    manifest_path, _ = write_study(work / f"racers_{profile}", stages)
    profile_arg = str(REPO / "configs" / "profiles" / f"{profile}.yaml")
    command = [sys.executable, "-m", "runlab", "submit", str(manifest_path), "--profile", profile_arg,
               "--runs_root", str(work / f"racers_{profile}" / "runs")]

    def race(argv: list[str]) -> None:
        processes = [subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL) for _ in range(count)]
        if any(process.wait() != 0 for process in processes):
            raise RuntimeError(f"a racer failed: {' '.join(argv)}")

    return timed(lambda: race(command)), timed(lambda: race([sys.executable, "-c", "import runlab.cli"]))


def array_submit(work: Path, tasks: int = 1000) -> tuple[float, float]:
    """Wall time of `runlab submit` for one stage of ``tasks`` array tasks, against a bare `sbatch --array`."""
    stages = {"S01": {"entry": "bench.stages:noop_task", "array": tasks}}
    manifest_path, _ = write_study(work / "array", stages)
    command = [sys.executable, "-m", "runlab", "submit", str(manifest_path), "--runs_root", str(work / "array" / "runs"),
               "--profile", str(REPO / "configs" / "profiles" / "one-node.yaml")]
    elapsed = timed(lambda: subprocess.run(command, env=ENV, check=True, capture_output=True))
    subprocess.run(["scancel", "--name", "bench.S01"], check=True)
    bare = timed(lambda: subprocess.run(["sbatch", "--hold", f"--array=0-{tasks - 1}", "--job-name=bench.bare",
                                         "--wrap=true"], check=True, capture_output=True))
    subprocess.run(["scancel", "--name", "bench.bare"], check=True)
    return elapsed, bare


def status_over_jobs(work: Path, jobs: int = 1000) -> tuple[float, float, float]:
    """`runlab status` over ``jobs`` claimed SLURM jobs (held array tasks), against squeue once and per job."""
    submitted = subprocess.run(["sbatch", "--parsable", "--hold", f"--array=0-{jobs - 1}", "--job-name=bench.status",
                                "--wrap=true"], check=True, capture_output=True, text=True).stdout.strip()
    array_id = submitted.split(";")[0]
    store = RunStore(work / "status" / "runs")
    ledger = Ledger(store)
    for task in range(jobs):
        ledger.write(Claim(run_id=f"RUN_S{task:04d}_{task:012x}", submission_id="0" * 16, executor="slurm",
                           host=host_name(), pid=os.getpid(), job_ids=(f"{array_id}_{task}",)))
    try:
        status = timed(lambda: subprocess.run([sys.executable, "-m", "runlab", "status", "--runs_root",
                                               str(store.root)], env=ENV, check=True, capture_output=True))
        once = timed(lambda: subprocess.run(["squeue", "-h", "-r", "-j", array_id], check=True, capture_output=True))
        sample = 25
        per_job = timed(lambda: [subprocess.run(["squeue", "-h", "-j", f"{array_id}_{task}"], capture_output=True)
                                 for task in range(sample)]) * jobs / sample
    finally:
        subprocess.run(["scancel", array_id], check=True)
    return status, once, per_job


def _runlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runlab", *args], env=env or ENV, check=True, capture_output=True,
                          text=True)


def _ran(stdout: str) -> int:
    """How many runs a submit's lines say it ran."""
    return sum(line.split()[2:3] == ["ran"] for line in stdout.splitlines())


def sweep_submit(work: Path, configs: int = 1000) -> tuple[float, int, float]:
    """`runlab submit --sweep` of ``configs`` values of one key to SLURM: seconds and sbatch calls, against one bare
    ``sbatch`` per config (25 timed, scaled; runlab's own pacing of 5 a second would make that at least configs/5 s)."""
    stages = {"S01": {"entry": "bench.stages:noop", "reads": ["bench.value"]}}
    manifest_path, _ = write_study(work / "sweep", stages)
    calls = work / "sweep" / "sbatch_calls.log"
    wrapper = work / "sweep" / "bin" / "sbatch"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {shutil.which("sbatch")} "$@"\n')
    wrapper.chmod(0o755)
    env = {**ENV, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}
    values = ",".join(str(value) for value in range(configs))
    elapsed = timed(lambda: _runlab("submit", str(manifest_path), "--runs_root", str(work / "sweep" / "runs"),
                                    "--profile", str(REPO / "configs" / "profiles" / "one-node.yaml"),
                                    "--sweep", f"bench.value={values}", env=env))
    subprocess.run(["scancel", "--name", "bench.S01"], check=True)
    sample = 25
    bare = timed(lambda: [subprocess.run(["sbatch", "--hold", "--job-name=bench.bare", "--wrap=true"], check=True,
                                         capture_output=True) for _ in range(sample)]) * configs / sample
    subprocess.run(["scancel", "--name", "bench.bare"], check=True)
    return elapsed, len(calls.read_text().splitlines()), bare


def margin_repair_eval_change(work: Path) -> tuple[float, int, float, int]:
    """Resubmit the synthetic margin_repair pipeline after one EVAL key changes, against the whole pipeline."""
    manifest = str(REPO / "jobs" / "margin_repair.yaml")
    config = str(REPO / "configs" / "margin_repair" / "synthetic.yaml")
    root = str(work / "margin_repair")
    started = time.perf_counter()
    full = _runlab("submit", manifest, "--config", config, "--runs_root", root)
    full_s = time.perf_counter() - started
    started = time.perf_counter()
    changed = _runlab("submit", manifest, "--config", config, "--runs_root", root,
                      "--set", "margin_repair.evaluation.cmap=viridis")
    return time.perf_counter() - started, _ran(changed.stdout), full_s, _ran(full.stdout)


def hunt_extension(work: Path) -> tuple[float, int, float, int]:
    """The quickstart hunt extended from 3 to 4 generations, against the 4-generation hunt from scratch."""
    manifest = str(REPO / "jobs" / "irer.yaml")
    config = str(REPO / "configs" / "irer" / "quickstart.yaml")
    _runlab("submit", manifest, "--config", config, "--runs_root", str(work / "hunt"))
    started = time.perf_counter()
    extended = _runlab("submit", manifest, "--config", config, "--runs_root", str(work / "hunt"),
                       "--set", "irer.hunt.generations=4")
    extended_s = time.perf_counter() - started
    started = time.perf_counter()
    whole = _runlab("submit", manifest, "--config", config, "--runs_root", str(work / "hunt_whole"),
                    "--set", "irer.hunt.generations=4")
    return extended_s, _ran(extended.stdout), time.perf_counter() - started, _ran(whole.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--no-slurm", action="store_true", help="skip the rows that need a SLURM cluster")
    parser.add_argument("--only", choices=("identity",), help="only the issue-16 rows (sweep, EVAL change, hunt)")
    args = parser.parse_args()
    slurm = not args.no_slurm and shutil.which("sinfo") is not None and subprocess.run(
        ["sinfo"], capture_output=True).returncode == 0
    work = Path(tempfile.mkdtemp(prefix="runlab-bench-"))
    rows = identity_rows(work, slurm)
    if args.only is None:
        rows = [*general_rows(work, slurm), *rows]
    shutil.rmtree(work, ignore_errors=True)
    print(f"{'measurement':<52} {'runlab':>9}  {'baseline':<42} {'baseline':>9}  target")
    for name, value, baseline, base_value, target in rows:
        shown = "" if value != value else f"{value:8.3f}s"
        print(f"{name:<52} {shown:>9}  {baseline:<42} {base_value:8.3f}s  {target}")


def identity_rows(work: Path, slurm: bool) -> list[tuple[str, float, str, float, str]]:
    """Issue 16: what content-addressed identity saves."""
    rows = []
    if slurm:
        elapsed, calls, bare = sweep_submit(work)
        rows.append((f"submit a 1000-config sweep to SLURM ({calls} sbatch)", elapsed,
                     "1000 bare `sbatch` (one per config, scaled)", bare, "1 sbatch per stage"))
    changed, ran, full, full_ran = margin_repair_eval_change(work)
    rows.append((f"margin_repair after one EVAL key ({ran} stage run)", changed,
                 f"the whole pipeline ({full_ran} stages)", full, "EVAL alone"))
    extended, ran, whole, whole_ran = hunt_extension(work)
    rows.append((f"irer hunt 3 -> 4 generations ({ran} runs)", extended, f"the 4-generation hunt ({whole_ran} runs)",
                 whole, "GEN003 + REPORT"))
    return rows


def general_rows(work: Path, slurm: bool) -> list[tuple[str, float, str, float, str]]:
    rows = local_overhead(work)
    racing, start_up = racers(work)
    rows.append(("32 racing `runlab submit`, local, 3 stages", racing, "32 concurrent `import runlab.cli`", start_up,
                 "< 5 s"))
    if slurm:
        racing, start_up = racers(work, profile="one-node")
        rows.append(("32 racing `runlab submit`, SLURM, 3 stages", racing, "32 concurrent `import runlab.cli`",
                     start_up, "< 5 s"))
        elapsed, bare = array_submit(work)
        rows.append(("submit a 1000-task array stage (1 sbatch + fan-in)", elapsed, "bare `sbatch --array=0-999`",
                     bare, "< 10 s"))
        status, once, per_job = status_over_jobs(work)
        rows.append(("`runlab status` over 1000 SLURM jobs", status, "one `squeue` call", once, "one query"))
        rows.append(("", float("nan"), "a `squeue` per job (25 timed, scaled)", per_job, ""))
    return rows


if __name__ == "__main__":
    main()
