"""The hunt page of ``runlab monitor`` (entry point ``runlab.monitor``: ``irer = "irer.monitor:MONITOR"``).

A hunt is the chain of generation runs of one resolved config (and its REPORT): every run of study
``irer`` made by that config (its ``study_config_hash``) links to ``/studies/irer/hunts/<study_config_hash[:12]>``. The page shows
fitness per generation (best, median, best so far, from the ledger of the latest complete generation,
plus the generations still running or failed) as an SVG chart and a table, the top candidates of the
hunt so far, and the best candidate's ``final_rho`` (|ψ|²) and ``final_g_tt`` grids as PNG heatmaps
rendered by the monitor's ``/runs/<id>/heatmap.png`` route. Its ``#study-live`` part is re-fetched from
``.../live`` whenever a run of the hunt changes (see ``runlab.monitor.groups``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import numpy as np
import yaml
from starlette.exceptions import HTTPException
from starlette.routing import Route

from runlab.monitor import ConfigGroups, NotAGrid, NotServable, RunRow, Series, StudyContext, heatmap_of, line_chart

from .artifacts import G_TT, RHO
from .ledger import best, generation_summary, ledger_param_names, param_column, read_ledger, top_candidates

__all__ = ["HUNTS", "MONITOR", "HuntMonitor", "fitness_chart"]

LEDGER = "results/ledger.parquet"
GRIDS = ((RHO, "|ψ|² (final_rho)", "magma", "|ψ|² in model units (cubic saturation coefficient 1)"),
         (G_TT, "g_tt (final_g_tt)", "viridis", "g_tt, dimensionless"))  # units: spec/irer/equations.md
_DEFAULT_TOP = 5
_GEN = re.compile(r"GEN(\d+)")
_TEMPLATES = Path(__file__).resolve().parent / "templates"


class HuntMonitor:
    """The irer study's pages for the monitor (a ``runlab.monitor.studies.StudyMonitor``)."""

    def link(self, record: Mapping[str, Any]) -> str | None:
        tag = str(record.get("stage_tag", ""))
        return HUNTS.link(record) if _GEN.fullmatch(tag) or tag == "REPORT" else None

    def routes(self, context: StudyContext) -> list[Route]:
        return HUNTS.routes(context)


def _hunt(context: StudyContext, href: str, rows: Sequence[RunRow]) -> dict[str, Any]:
    """Everything the hunt page shows, read from the runs of the hunt."""
    links = {int(match.group(1)): row for row in rows if (match := _GEN.fullmatch(row.stage))}
    report = next((row for row in rows if row.stage == "REPORT"), None)
    complete = [generation for generation, row in sorted(links.items()) if row.status == "complete"]
    view: dict[str, Any] = {"report": report, "problem": None, "top": [], "param_names": (), "best": None,
                            "grids": [], "generations": [], "chart": None}
    summary: list[dict[str, Any]] = []
    if complete:
        latest = context.open_run(links[complete[-1]].run_id)
        try:
            ledger = read_ledger(latest.path(LEDGER).read_bytes())
        except Exception as exc:  # noqa: BLE001 - a missing or damaged ledger is shown as such, not a 500
            view["problem"] = f"cannot read the ledger of {latest.run_id}: {exc}"
        else:
            summary = generation_summary(ledger).to_pylist()
            names = ledger_param_names(ledger)
            view.update(param_names=names, top=[_candidate(row, names) for row in
                                                top_candidates(ledger, _top_count(latest)).to_pylist()])
            winner = best(ledger)
            if winner is not None:
                view.update(best=_candidate(winner, names), grids=_grids(context, winner))
    view["generations"] = _generations(summary, links)
    view["chart"] = fitness_chart(summary)
    return view


HUNTS = ConfigGroups("irer", "hunt", _TEMPLATES, "hunt_live.html", _hunt,
                     "Every run of study irer with this config: one GEN run per generation, then REPORT.")
MONITOR = HuntMonitor()


def _generations(summary: Sequence[Mapping[str, Any]], links: Mapping[int, RunRow]) -> list[dict[str, Any]]:
    """One row per generation in the ledger or with a run, in order: its run, status and fitness summary."""
    by_generation = {int(row["generation"]): row for row in summary}
    rows = []
    for generation in sorted(set(by_generation) | set(links)):
        link = links.get(generation)
        rows.append({"generation": generation, "run_id": link.run_id if link else None,
                     "status": link.status if link else "not here", **by_generation.get(generation, {})})
    return rows


def _candidate(row: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A ledger row as the page shows it: its parameters, the field-mean of two metrics, field 0's file."""
    means = {name: float(np.mean(row[name])) for name in ("log_prime_sse", "sdg_h_norm_l2")}
    return {**row, **means, "artifact": row["artifacts"][0],
            "params": [(name, row[param_column(name)]) for name in names]}


def _top_count(run: Any) -> int:
    """``irer.hunt.top_candidates`` of the hunt's resolved config (5 when it cannot be read)."""
    try:
        return max(1, int(yaml.safe_load(run.config_text())["config"]["irer"]["hunt"]["top_candidates"]))
    except Exception:  # noqa: BLE001 - the page still shows the hunt
        return _DEFAULT_TOP


def _grids(context: StudyContext, winner: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The best candidate's field and metric grids: image URL, shape and value range (or why not)."""
    grids = []
    for dataset, label, colormap, units in GRIDS:
        query = urlencode({"file": winner["artifacts"][0], "dataset": dataset, "cmap": colormap})
        entry: dict[str, Any] = {"label": label, "dataset": dataset, "colormap": colormap,
                                 "src": f"/runs/{winner['run_id']}/heatmap.png?{query}", "problem": None}
        try:
            rendered = heatmap_of(context.open_run(winner["run_id"]).path(winner["artifacts"][0]), dataset,
                                  colormap=colormap)
            entry.update(grid_shape=rendered.grid_shape, image_shape=rendered.image_shape, low=rendered.low,
                         high=rendered.high, units=rendered.units or units)
        except (HTTPException, NotServable, NotAGrid) as exc:
            entry["problem"] = str(getattr(exc, "detail", exc))
        grids.append(entry)
    return grids


def fitness_chart(summary: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Fitness per generation (best, median, best so far) as a ``line_chart`` for ``hunt_live.html``; None
    when no generation has a finite value."""
    series = [Series(key, label, [(row["generation"], row[key]) for row in summary if row.get(key) is not None],
                     dash=dash)
              for key, label, dash in (("best_fitness", "best", None), ("median_fitness", "median", "6 4"),
                                       ("best_fitness_so_far", "best so far", "2 3"))]
    return line_chart(series, x_label="generation", y_label="fitness")
