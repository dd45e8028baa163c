"""S05: the worked example of seed 002, rebuilt from the artifacts of S02 and S04 without the model:
``results/metrics.parquet``, table T01 and figure F03 (names from CANON.OUTPUT). ``runlab verify``
recomputes them from S02 and S04 (``verify_summary``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

import pyarrow as pa

from runlab import Run, RunView

from ..analysis.gstar import gstar_label
from ..analysis.summarize import metrics_rows
from ..config import StudySettings
from ..io.artifacts import read_json, read_parquet, read_rows
from ..io.recompute import bytes_problems, table_problems
from ..io.schema_validate import table_from_rows, validate_figure
from ..paper.export import summary_latex, t01_caption
from ..model.demo import demo_note
from ..plotting.figures import branching_curves, mark_demo
from ..plotting.tables import summary_rows

__all__ = ["Summary", "summarize", "summary_of", "verify_summary"]


@dataclass(frozen=True)
class Summary:
    """What S05 writes, computed from S02 and S04: the tables, and what figure F03 is drawn from."""

    metrics: pa.Table  # results/<metrics>.parquet
    t01: pa.Table  # tables/<table_t01>.{csv,parquet}
    t01_latex: bytes  # tables/<table_t01>.tex, UTF-8
    rows: list[dict[str, Any]]  # the metric rows, for F03
    gstar: dict[str, Any]
    fit_status: dict[tuple[str, float, int], str]
    note: str


def summary_of(config: Mapping[str, Any], sweep: RunView, measured: RunView) -> Summary:
    """S05's outputs from the S02 run ``sweep`` and the S04 run ``measured`` (no model, no writing)."""
    names = StudySettings.from_config(config).outputs
    gstar = read_json(sweep, "results/gstar.json")
    branching = read_rows(measured, "results/branching.parquet")
    rows = metrics_rows(read_rows(sweep, "results/gain_sweep.parquet"), branching,
                        read_rows(measured, "results/powerlaw_fits.parquet"),
                        read_rows(measured, "results/crackling.parquet"))
    avalanches = read_parquet(measured, "results/avalanches.parquet")
    counts = Counter(zip(avalanches["source"], avalanches["gain"]))
    fit_status = {(row["source"], row["gain"], row["layer"]): row["fit_status"] for row in branching}
    note = demo_note(sweep.upstream("S01").annotations.get("model", {}))
    summary = summary_rows(rows, gstar, counts, fit_status, note)
    return Summary(table_from_rows(names.metrics, rows), table_from_rows(names.table_t01, summary),
                   summary_latex(summary, t01_caption(gstar, note)).encode("utf-8"), rows, gstar, fit_status, note)


def summarize(run: Run) -> None:
    names = StudySettings.from_config(run.config).outputs
    summary = summary_of(run.config, run.upstream("S02"), run.upstream("S04"))
    run.write_results(names.metrics, summary.metrics)
    run.write_table(names.table_t01, summary.t01)
    run.write_bytes(f"tables/{names.table_t01}.tex", summary.t01_latex)
    figure = mark_demo(branching_curves(summary.rows, summary.gstar, summary.fit_status), summary.note)
    validate_figure(names.fig_f03, figure)
    run.write_figure(names.fig_f03, figure)
    print(f"S05: {len(summary.rows)} metric rows; {names.table_t01} and {names.fig_f03} written "
          f"({gstar_label(summary.gstar)})", flush=True)


def verify_summary(view: RunView) -> list[str]:
    """``runlab verify`` of an S05 run: the metrics, T01 (parquet) and its LaTeX recomputed from S02 and S04
    (io/recompute.py). Not compared: T01's CSV (the parquet's table in another format) and figure F03
    (drawn from the metric rows compared here; its bytes depend on the renderer)."""
    names = StudySettings.from_config(view.config).outputs
    summary = summary_of(view.config, view.upstream("S02"), view.upstream("S04"))
    return table_problems(view, {f"results/{names.metrics}.parquet": summary.metrics,
                                 f"tables/{names.table_t01}.parquet": summary.t01}) \
        + bytes_problems(view, {f"tables/{names.table_t01}.tex": summary.t01_latex})
