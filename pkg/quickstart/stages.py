"""Estimate π by Monte Carlo as a three-stage pipeline.

S01 plans how many points each array task draws, each task of S02 counts its points inside the unit
quarter circle, S02's fan-in combines the shards in task order, and S03 reports the running
estimate as a table and a figure. Every number follows from the config's seed.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from runlab import ConfigError, Run

__all__ = ["combine_shards", "estimate_shard", "plan_draws", "report"]

_PLAN = "results/plan.parquet"
_ESTIMATE = "results/estimate.parquet"


def plan_draws(run: Run) -> None:
    """S01: one row per S02 task with its number of points (``samples_per_task`` each)."""
    tasks = int(run.config["quickstart"]["tasks"])
    samples = int(run.config["quickstart"]["samples_per_task"])
    run.write_results("plan", {"task": np.arange(tasks), "samples": np.full(tasks, samples)})


def estimate_shard(run: Run, task_index: int) -> None:
    """S02 task: draw the planned points with this task's seed and count those inside the circle."""
    plan = pq.read_table(run.upstream("S01").artifact_path(_PLAN)).to_pydict()
    if task_index not in plan["task"]:
        raise ConfigError(f"S02 task {task_index} is not in the S01 plan of {len(plan['task'])} tasks",
                          "make quickstart.tasks equal the array size of S02 in jobs/quickstart.yaml")
    samples = plan["samples"][plan["task"].index(task_index)]
    points = np.random.default_rng(run.task_seed()).random((samples, 2))
    inside = int(np.count_nonzero((points**2).sum(axis=1) <= 1.0))
    run.write_json(f"data/shard_{task_index:03d}.json", {"task": task_index, "samples": samples, "inside": inside})


def combine_shards(run: Run) -> None:
    """S02 fan-in: the shards in task order with the running estimate of π."""
    view = run.view()
    shards = sorted((path for path in view.artifacts if path.startswith("data/shard_")))
    rows = [json.loads(view.read_bytes(path)) for path in shards]
    planned = pq.read_table(run.upstream("S01").artifact_path(_PLAN)).num_rows
    if len(rows) != planned:
        raise ConfigError(f"S02 has {len(rows)} shards but S01 planned {planned}",
                          "make quickstart.tasks equal the array size of S02 in jobs/quickstart.yaml")
    samples = np.cumsum([row["samples"] for row in rows])
    inside = np.cumsum([row["inside"] for row in rows])
    run.write_results("estimate", {
        "task": [row["task"] for row in rows],
        "samples_total": samples,
        "pi_estimate": 4.0 * inside / samples,
    })


def report(run: Run) -> None:
    """S03: the running estimate as a table and a convergence figure."""
    from matplotlib.figure import Figure

    estimate = pq.read_table(run.upstream("S02").artifact_path(_ESTIMATE)).to_pydict()
    error = np.abs(np.asarray(estimate["pi_estimate"]) - np.pi)
    names = run.config["quickstart"]
    run.write_table(names["table_name"], {**estimate, "abs_error": error})
    figure = Figure(figsize=(4, 3))
    axes = figure.add_subplot()
    axes.loglog(estimate["samples_total"], error, marker="o")
    axes.set_xlabel("points drawn")
    axes.set_ylabel("|estimate - π|")
    figure.tight_layout()
    run.write_figure(names["figure_name"], figure)
