"""Trivial stages for the runtime benchmarks: the work is negligible, so what is measured is runlab."""

from __future__ import annotations

from runlab import Run


def noop(run: Run) -> None:
    """Write one small artifact."""
    run.write_json("results/value.json", {"value": run.config["bench"]["value"]})


def noop_task(run: Run, task_index: int) -> None:
    """One array task's small shard."""
    run.write_json(f"data/shard_{task_index:05d}.json", {"task": task_index})
