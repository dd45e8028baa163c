"""Stages used only by the runtime's tests. Knobs come from the config's ``test`` section."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from runlab import ConfigError, GpuRun, Run, RunView


def _witness(run: Run, what: str) -> None:
    """Leave one file per execution in ``test.witness_dir`` (outside the run), so tests can count them."""
    folder = run.config["test"].get("witness_dir")
    if folder:
        name = f"{run.stage_tag}_{what}_{os.getpid()}_{time.monotonic_ns()}"
        Path(folder, name).touch(exist_ok=False)


def echo(run: Run) -> None:
    """Write the config's values, or the first upstream's values plus one."""
    _witness(run, "echo")
    time.sleep(float(run.config["test"].get("sleep_s", 0)))
    values = _echo_values(run.config, run.upstream(run.upstream_tags[0]) if run.upstream_tags else None)
    run.write_results("values", {"value": values})
    run.write_jsonl("echo", [{"stage": run.stage_tag, "value": value} for value in values])


def _echo_values(config, upstream: RunView | None) -> list:
    if upstream is None:
        return list(config["test"]["values"])
    return [value + 1 for value in _values(upstream)]


def _values(view: RunView) -> list:
    return pq.read_table(view.artifact_path("results/values.parquet")).column("value").to_pylist()


def recompute_echo(view: RunView) -> list[str]:
    """Verifier of ``echo``: its values again, from the config or the first upstream run; one line per wrong row."""
    tags = sorted(view.record["upstream_run_ids"])
    expected = _echo_values(view.config, view.upstream(tags[0]) if tags else None)
    written = _values(view)
    if len(written) != len(expected):
        return [f"results/values.parquet: {len(written)} rows, recomputed {len(expected)}"]
    return [f"results/values.parquet: row {row} holds {got}, recomputed {want}"
            for row, (got, want) in enumerate(zip(written, expected)) if got != want]


def crashing_verifier(view: RunView) -> list[str]:
    """A verifier with a bug of its own."""
    raise KeyError("no such column")


def verifier_without_lines(view: RunView) -> None:
    """A verifier that forgets to return its problem lines."""


def count(run: Run) -> None:
    """Count to ``test.steps``, checkpointing after every step; ``starts`` in the checkpoint lists resumptions."""
    _witness(run, "count")
    steps = int(run.config["test"]["steps"])
    state = run.load_checkpoint() or {"next": 0, "total": 0, "starts": []}
    state["starts"].append(state["next"])
    for step in range(state["next"], steps):
        time.sleep(float(run.config["test"]["step_s"]))
        state.update(next=step + 1, total=state["total"] + step * step)
        run.save_checkpoint(state)
    run.write_results("count", {"steps": [steps], "sum_of_squares": [state["total"]]})


def shard(run: Run, task_index: int) -> None:
    """One array task: a small JSON shard derived from the task's seed; task 3 fails while ``test.fail_marker`` exists."""
    _witness(run, f"shard{task_index}")
    marker = run.config["test"].get("fail_marker")
    if marker and task_index == 3 and Path(marker).exists():
        raise RuntimeError("task 3 told to fail")
    value = int(np.random.default_rng(run.task_seed()).integers(0, 1_000_000))
    run.write_json(f"data/shard_{task_index:04d}.json", {"task": task_index, "value": value})


def gather(run: Run) -> None:
    """Fan-in: every shard, in task order, into one table."""
    view = run.view()
    rows = [json.loads(view.read_bytes(path)) for path in sorted(view.artifacts) if path.startswith("data/shard_")]
    run.write_results("gathered", {"task": [row["task"] for row in rows], "value": [row["value"] for row in rows]})


def big_writer(run: Run) -> None:
    """Write ``test.blocks`` blocks of ``test.block_mb`` MiB of seeded bytes, so a kill can land mid-write."""
    size = int(float(run.config["test"]["block_mb"]) * (1 << 20))
    for block in range(int(run.config["test"]["blocks"])):
        data = np.random.default_rng([run.seed, block]).bytes(size)
        run.write_bytes(f"data/block_{block:03d}.bin", data)


def fail(run: Run) -> None:
    """Always fails, after writing one artifact."""
    run.write_json("logs/before_failure.json", {"stage": run.stage_tag})
    raise ValueError("this stage always fails")


def progress_then_wait(run: Run) -> None:
    """Report 2 of ``test.steps`` steps, wait (up to 120 s) for the file ``test.gate``, then do the rest."""
    with run.progress(int(run.config["test"]["steps"]), unit="step") as progress:
        time.sleep(0.2)  # a measurable rate, for an ETA
        progress.advance(2)
        deadline = time.monotonic() + 120
        while not Path(run.config["test"]["gate"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        progress.advance(int(run.config["test"]["steps"]) - 2)
    run.write_results("values", {"value": [1]})


def write_named(run: Run) -> None:
    """Writes one artifact at the path ``test.path``."""
    run.write_bytes(run.config["test"]["path"], b"x")


def needs_data(run: Run) -> None:
    """Lists ``test.data_dir``, failing as a stage does on a missing input folder when it is absent; with
    ``test.write_first`` it writes ``logs/started.json`` before it looks."""
    if run.config["test"].get("write_first"):
        run.write_json("logs/started.json", {"stage": run.stage_tag})
    folder = Path(run.config["test"]["data_dir"])
    if not folder.is_dir():
        raise FileNotFoundError(f"no data folder {folder}")
    run.write_results("values", {"value": sorted(path.name for path in folder.iterdir())})


def escape(run: Run) -> None:
    """Tries to write outside its run directory."""
    run.write_bytes("results/../../escaped.txt", b"should never be written")


def annotate(run: Run) -> None:
    """Annotate the run with ``test.annotations``; then, if ``test.bad_annotation`` is set, with a NaN or a bad key."""
    for key, value in run.config["test"].get("annotations", {}).items():
        run.annotate(key, value)
    bad = run.config["test"].get("bad_annotation")
    if bad == "nan":
        run.annotate("score", {"mean": float("nan")})
    elif bad == "key":
        run.annotate("Data-Source", "generated")
    run.write_json("results/annotated.json", {"stage": run.stage_tag})


def judge(run: Run) -> None:
    """Write ``test.values`` and state a verdict on them: pass when none exceeds ``test.limit`` (``test.summary``,
    if set, replaces the summary line)."""
    values = list(run.config["test"]["values"])
    limit = run.config["test"]["limit"]
    over = sum(value > limit for value in values)
    run.write_results("values", {"value": values})
    summary = run.config["test"].get("summary", f"{over} of {len(values)} values exceed {limit}")
    run.set_verdict(over == 0, summary, {"over_limit": over, "largest": max(values)})


def judge_then_fail(run: Run) -> None:
    """While the file ``test.fail_marker`` exists: state a failed verdict, then raise; else finish without one."""
    run.write_results("values", {"value": [1]})
    if Path(run.config["test"]["fail_marker"]).exists():
        run.set_verdict(False, "stated by an attempt that then failed")
        raise ValueError("told to fail after its verdict")


def chain_link(run: Run) -> None:
    """A link of a chain: the previous link's total plus this link's index (the first starts from S01)."""
    previous = run.previous_link()
    start = _values(previous)[0] if previous is not None else _values(run.upstream("S01"))[0]
    run.write_results("values", {"value": [start + run.chain_index]})


def tagged(run: Run) -> None:
    """``test.<tag in lower case>`` plus the value of every upstream run (witnessed, so tests count executions)."""
    _witness(run, "tagged")
    own = run.config["test"][run.stage_tag.lower()]
    upstream = sum(_values(run.upstream(tag))[0] for tag in run.upstream_tags)
    run.write_results("values", {"value": [own + upstream]})


def noisy(run: Run) -> None:
    """Different bytes at every execution: what a non-deterministic upstream does."""
    run.write_results("values", {"value": [time.monotonic_ns()]})


def reads_undeclared(run: Run) -> None:
    """Reads ``test.b`` while its manifest declares only ``test.a``."""
    run.write_results("values", {"value": [run.config["test"]["a"] + run.config["test"]["b"]]})


def list_gpu_runs(runs: list[GpuRun]) -> str:
    """A GPU budget check that lets every submission through and says which GPU runs it was shown."""
    return "GPU runs: " + "; ".join(f"{run.tag} gpus {run.gpus} tasks {run.tasks} values {run.config['test']['values']}"
                                    for run in runs)


def refuse_gpu_runs(runs: list[GpuRun]) -> str:
    """A GPU budget check that refuses every submission with GPU work."""
    raise ConfigError(f"GPU budget: {len(runs)} GPU runs, budget 0", "ask for more")


def chatty(run: Run) -> None:
    """Print ``test.lines`` lines to stdout, one to stderr, and one from a child process; with ``test.gate``,
    wait (up to 60 s) for that file to appear after the first line, then print the rest; report progress over
    ``test.steps`` steps."""
    import subprocess
    import sys

    knobs = run.config["test"]
    print("first line from the stage", flush=True)
    gate = knobs.get("gate")
    deadline = time.monotonic() + 60
    while gate and not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for number in range(int(knobs.get("lines", 1))):
        print(f"line {number}")
    print("a warning on stderr", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "import os; os.write(1, b'from a child process\\n')"], check=True)
    for _ in run.track(range(int(knobs.get("steps", 0))), unit="step"):
        pass
    run.write_results("values", {"value": [1]})


# A three-stage chain of echo stages, for manifests written by tests.
CHAIN = {
    "S01": {"entry": "tests.support.stages:echo"},
    "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"]},
    "S03": {"entry": "tests.support.stages:echo", "needs": ["S02"]},
}
