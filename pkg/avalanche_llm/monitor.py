"""The avalanche page of ``runlab monitor`` (entry point ``runlab.monitor``:
``avalanche_llm = "avalanche_llm.monitor:MONITOR"``).

A pipeline is the phases run on one resolved config: every run of study ``avalanche_llm`` with that
``study_config_hash`` links to ``/studies/avalanche_llm/pipelines/<study_config_hash[:12]>``. The page shows the
phases with their status, the branching ratio of the total activity per gain as the S02 sweep lands it
(each gain's raster file carries its b_tot; the sweep's table replaces them when it completes), g* once
S02 chooses it, the per-layer branching curves and the nulls at g* once S04 lands, and S05's figures.
Its ``#study-live`` part is re-fetched whenever a run of the pipeline changes (``runlab.monitor.groups``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import pyarrow.parquet as pq
import yaml

from runlab.monitor import ConfigGroups, Mark, NotServable, RunFiles, RunRow, Series, StudyContext, line_chart

from .analysis.summarize import TOTAL_LAYER
from .io.gain_files import gain_raster_name

__all__ = ["MONITOR"]

SWEEP = "S02"
MEASURE = "S04"
SUMMARY = "S05"
GAIN_SWEEP = "results/gain_sweep.parquet"
BRANCHING = "results/branching.parquet"
B_TOT = ("b_tot_mr", "b_tot_mr_stderr", "b_tot_conventional", "mean_total_activity")
B_TOT_STATUS = "b_tot_fit_status"  # "ok" or the failed checks of the MR fit (spec/12)
_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _pipeline(context: StudyContext, href: str, rows: Sequence[RunRow]) -> dict[str, Any]:
    """Everything the pipeline page shows, read from the runs of the pipeline."""
    by_stage = {row.stage: row for row in rows}
    view: dict[str, Any] = {"stages": sorted(rows, key=lambda row: row.stage), "problems": [], "gains": [],
                            "gstar": None, "sweep_chart": None, "layer_chart": None, "nulls": [], "figures": []}
    gstar_mark: list[Mark] = []
    if SWEEP in by_stage:
        sweep = context.open_run(by_stage[SWEEP].run_id)
        view["gstar"] = sweep.record.get("annotations", {}).get("gstar")
        crossing = view["gstar"] and view["gstar"].get("gstar") is not None
        gstar_mark = [Mark(float(view["gstar"]["gstar"]), f"g* = {view['gstar']['gstar']:.3g}")] if crossing else []
        view["gains"] = _gains(sweep, view["problems"])
        view["sweep_chart"] = line_chart(
            [Series("b_tot_mr", "b_tot (MR)", [(row["gain"], row.get("b_tot_mr")) for row in view["gains"]],
                    # error bars of passing fits only: a failed fit's error (up to ~4) would squash the axis,
                    # and the gains table names its failed checks
                    errors=[(row.get("b_tot_mr_stderr") or 0.0) if row.get(B_TOT_STATUS) == "ok" else 0.0
                            for row in view["gains"]]),
             Series("b_tot_conventional", "b_tot (conventional)",
                    [(row["gain"], row.get("b_tot_conventional")) for row in view["gains"]], dash="6 4")],
            x_label="gain", y_label="branching ratio", x_marks=gstar_mark, y_marks=[Mark(1.0, "b = 1")])
    if by_stage.get(MEASURE) and by_stage[MEASURE].status == "complete":
        branching = _table(context.open_run(by_stage[MEASURE].run_id), BRANCHING, view["problems"])
        view["layer_chart"] = _layer_chart(branching, gstar_mark)
        view["nulls"] = [row for row in branching if row["source"] != "data"]
    if by_stage.get(SUMMARY) and by_stage[SUMMARY].status == "complete":
        summary = context.open_run(by_stage[SUMMARY].run_id)
        view["figures"] = [(summary.run_id, path) for path in summary.artifacts
                           if path.startswith("figs/") and path.endswith(".png")]
    return view


def _gains(sweep: RunFiles, problems: list[str]) -> list[dict[str, Any]]:
    """One row per configured gain: its b_tot from the sweep's table once it is written, else from the gain's
    raster file once that has landed, else only the gain (``landed`` False)."""
    artifacts = sweep.artifacts
    if GAIN_SWEEP in artifacts:
        table = _table(sweep, GAIN_SWEEP, problems)
        return [{"index": index, "landed": True, **row} for index, row in enumerate(table)]
    try:
        values = [float(gain) for gain in yaml.safe_load(sweep.config_text())["config"]["avalanche_llm"]["gain"]["values"]]
    except (NotServable, TypeError, KeyError, ValueError, yaml.YAMLError) as exc:
        problems.append(f"cannot read the swept gains of {sweep.run_id}: {exc}")
        return []
    rows = []
    for index, gain in enumerate(values):
        row: dict[str, Any] = {"index": index, "gain": gain, "landed": False}
        name = f"data/{gain_raster_name(index)}.h5"
        if name in artifacts:
            try:
                with h5py.File(sweep.path(name), "r") as h5:
                    row.update({key: float(h5.attrs[key]) for key in B_TOT if key in h5.attrs}, landed=True)
                    if B_TOT_STATUS in h5.attrs:
                        row[B_TOT_STATUS] = str(h5.attrs[B_TOT_STATUS])
            except (NotServable, OSError) as exc:
                problems.append(f"cannot read {name} of {sweep.run_id}: {exc}")
        rows.append(row)
    return rows


def _table(run: RunFiles, relative_path: str, problems: list[str]) -> list[dict[str, Any]]:
    """Rows of the parquet artifact ``relative_path`` of ``run`` (none, with a problem said, when unreadable)."""
    try:
        return pq.read_table(run.path(relative_path)).to_pylist()
    except (NotServable, OSError, ValueError) as exc:
        problems.append(f"cannot read {relative_path} of {run.run_id}: {getattr(exc, 'reason', exc)}")
        return []


def _layer_chart(branching: Sequence[Mapping[str, Any]], gstar_mark: Sequence[Mark]) -> dict[str, Any] | None:
    """m (MR) per gain of every layer's activity and of the total activity, measured on the data (S04)."""
    data = [row for row in branching if row["source"] == "data"]
    layers = sorted({int(row["layer"]) for row in data if int(row["layer"]) != TOTAL_LAYER})
    series = [Series(f"layer{layer:02d}", f"layer {layer}",
                     [(row["gain"], row["m_mr"]) for row in data if int(row["layer"]) == layer]) for layer in layers]
    series.append(Series("total", "total activity",
                         [(row["gain"], row["m_mr"]) for row in data if int(row["layer"]) == TOTAL_LAYER], dash="6 4"))
    return line_chart(series, x_label="gain", y_label="m (MR)", x_marks=gstar_mark, y_marks=[Mark(1.0, "b = 1")],
                      palette="viridis")


MONITOR = ConfigGroups("avalanche_llm", "pipeline", _TEMPLATES, "pipeline_live.html", _pipeline,
                       "Every run of study avalanche_llm with this config: one run per phase (S01 to S08).")
"""The study's pages for the monitor: every run links to its pipeline (a ``runlab.monitor.studies.StudyMonitor``)."""
