"""S08: the paper export. Every table of spec/18 that a reader sees (T01, T02, T03: CSV, parquet and
LaTeX), every figure of spec/19 (F03 as S05 drew it, F04, F05: PDF and PNG) and ``results/REPORT.md``,
the document a reviewer opens first, assembled from upstream artifacts alone. Before anything is
written, every run the export stands on (S08's upstream runs and theirs, down to S01) must pass
``runlab verify`` (rehash, record, and its stage's verifier); the report lists them with their hashes.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from runlab import Run, RunView, SchemaError, verify_run

from ..canon import load_canon
from ..config import StudySettings
from ..io.artifacts import read_json, read_rows
from ..io.schema_validate import table_from_rows, validate_figure
from ..analysis.gstar import is_gstar_gain
from ..paper.export import T02_LATEX_COLUMNS, T03_LATEX_COLUMNS, latex_table, summary_latex, t01_caption, t03_caption
from ..paper.report import report_markdown
from ..model.demo import demo_note
from ..plotting.figures import mark_demo, performance_curves, performance_vs_criticality

__all__ = ["export_paper", "used_runs"]


def used_runs(run: Run) -> dict[str, RunView]:
    """Every run reachable through upstream run ids from this run, by stage tag."""
    views: dict[str, RunView] = {}
    pending = [run.upstream(tag) for tag in run.upstream_tags]
    while pending:
        view = pending.pop()
        tag = view.record["stage_tag"]
        if tag not in views:
            views[tag] = view
            pending.extend(view.upstream(need) for need in view.record["upstream_run_ids"])
    return dict(sorted(views.items()))


def export_paper(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    runs = used_runs(run)
    for tag, view in runs.items():
        problems = verify_run(run.store, view.run_id)
        if problems:
            raise SchemaError(f"upstream run {view.run_id} ({tag}) does not verify: {problems[0]}",
                              f"see `runlab verify {view.run_id}`")
    names = _output_names()
    gstar = read_json(runs["S02"], "results/gstar.json")
    note = demo_note(runs["S01"].annotations.get("model", {}))
    t01 = read_rows(runs["S05"], f"tables/{settings.outputs.table_t01}.parquet")
    _table(run, settings.outputs.table_t01, t01, summary_latex(t01, t01_caption(gstar, note)))
    t02 = read_rows(runs["S07"], f"tables/{names['t02']}.parquet")
    t02_caption = (f"\\textbf{{{note}.}} " if note else "") + _T02_CAPTION
    _table(run, names["t02"], t02, latex_table(t02, T02_LATEX_COLUMNS, t02_caption, "tab:T02"))
    t03 = _behaviour_rows(settings, runs, gstar, note)
    _table(run, names["t03"], t03, latex_table(t03, T03_LATEX_COLUMNS, t03_caption(gstar, note), "tab:T03",
                                               bold=lambda row: bool(row["is_gstar"])))
    for fmt in ("pdf", "png"):
        name = f"figs/{settings.outputs.fig_f03}.{fmt}"
        run.write_bytes(name, runs["S05"].read_bytes(name))
    accuracy = next(row for row in t02 if row["performance_metric"] == "acc")
    for name, figure in ((names["f04"], performance_curves(t03, gstar)),
                         (names["f05"], performance_vs_criticality(t03, accuracy))):
        validate_figure(name, figure)
        run.write_figure(name, mark_demo(figure, note))
    outputs = {"t01": settings.outputs.table_t01, "t02": names["t02"], "t03": names["t03"],
               "f03": settings.outputs.fig_f03, "f04": names["f04"], "f05": names["f05"]}
    text = report_markdown(run.config, runs, gstar, t01, t02, t03, outputs, note)
    run.write_bytes(f"results/{names['report']}.md", text.encode("utf-8"))
    print(f"S08: {len(runs)} upstream runs verified; report results/{names['report']}.md, tables "
          f"{', '.join(outputs[k] for k in ('t01', 't02', 't03'))}, figures "
          f"{', '.join(outputs[k] for k in ('f03', 'f04', 'f05'))}", flush=True)


_T02_CAPTION = ("Spearman correlation, across the gains whose MR fit passed its checks (spec/12), between "
                "$|b_{\\mathrm{tot}}(g) - 1|$ and task performance, "
                "with its paired-bootstrap interval, exact permutation $p$ and Holm's adjustment over the four "
                "performance metrics (spec/21).")


def _output_names() -> dict[str, str]:
    registry = load_canon()
    keys = {"t02": "TABLE_T02_CRITICALITY_PERFORMANCE", "t03": "TABLE_T03_BEHAVIOUR",
            "f04": "FIG_F04_PERFORMANCE_VS_GAIN", "f05": "FIG_F05_PERFORMANCE_VS_CRITICALITY", "report": "REPORT"}
    return {short: str(registry.lookup(f"CANON.OUTPUT.{key}")) for short, key in keys.items()}


def _table(run: Run, name: str, rows: list[dict[str, Any]], latex: str) -> None:
    run.write_table(name, table_from_rows(name, rows))
    run.write_bytes(f"tables/{name}.tex", latex.encode("utf-8"))


def _behaviour_rows(settings: StudySettings, runs: Mapping[str, RunView], gstar: Mapping[str, Any],
                    note: str) -> list[dict[str, Any]]:
    """T03: per behaviour gain, b_tot with the status of its fit and the performance metrics, with their S07
    intervals, and the model's demo ``note`` in every row."""
    intervals = {(row["metric"], row["gain"], row["layer"]): row
                 for row in read_rows(runs["S07"], "results/confidence_intervals.parquet")}
    rows = []
    for gain in settings.gain.values:
        row: dict[str, Any] = {"gain": gain, "is_gstar": is_gstar_gain(gstar, gain)}
        for key, metric in (("b_tot", "m_mr"), ("acc", "acc"), ("acc_norm", "acc_norm"), ("perplexity", "perplexity")):
            found = intervals.get((metric, gain, -1))
            for suffix, column in (("", "estimate"), ("_low", "low"), ("_high", "high")):
                row[key + suffix] = found[column] if found else math.nan
            if key == "b_tot":
                row["b_tot_fit_status"] = found["fit_status"] if found else "no_estimate"
        rows.append({**row, "model_note": note})
    return rows

