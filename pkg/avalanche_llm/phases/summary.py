"""S05: the worked example of seed 002, rebuilt from the artifacts of S02 and S04 without the model:
``results/metrics.parquet``, table T01 and figure F03 (names from CANON.OUTPUT)."""

from __future__ import annotations

from collections import Counter

from runlab import Run

from ..analysis.gstar import gstar_label
from ..analysis.summarize import metrics_rows
from ..config import StudySettings
from ..io.artifacts import read_json, read_parquet, read_rows
from ..io.schema_validate import table_from_rows, validate_figure
from ..paper.export import summary_latex, t01_caption
from ..model.demo import demo_note
from ..plotting.figures import branching_curves, mark_demo
from ..plotting.tables import summary_rows

__all__ = ["summarize"]


def summarize(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    sweep, measured = run.upstream("S02"), run.upstream("S04")
    gstar = read_json(sweep, "results/gstar.json")
    branching = read_rows(measured, "results/branching.parquet")
    rows = metrics_rows(read_rows(sweep, "results/gain_sweep.parquet"), branching,
                        read_rows(measured, "results/powerlaw_fits.parquet"),
                        read_rows(measured, "results/crackling.parquet"))
    names = settings.outputs
    run.write_results(names.metrics, table_from_rows(names.metrics, rows))
    avalanches = read_parquet(measured, "results/avalanches.parquet")
    counts = Counter(zip(avalanches["source"], avalanches["gain"]))
    fit_status = {(row["source"], row["gain"], row["layer"]): row["fit_status"] for row in branching}
    note = demo_note(sweep.upstream("S01").annotations.get("model", {}))
    summary = summary_rows(rows, gstar, counts, fit_status, note)
    run.write_table(names.table_t01, table_from_rows(names.table_t01, summary))
    run.write_bytes(f"tables/{names.table_t01}.tex", summary_latex(summary, t01_caption(gstar, note)).encode("utf-8"))
    figure = mark_demo(branching_curves(rows, gstar, fit_status), note)
    validate_figure(names.fig_f03, figure)
    run.write_figure(names.fig_f03, figure)
    print(f"S05: {len(rows)} metric rows; {names.table_t01} and {names.fig_f03} written ({gstar_label(gstar)})",
          flush=True)
