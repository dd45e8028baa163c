"""The hunt page of ``runlab monitor`` (entry point ``runlab.monitor``: ``irer = "irer.monitor:MONITOR"``).

A hunt is the chain of generation runs of one resolved config (and its REPORT): every run of study
``irer`` with that ``config_hash`` links to ``/studies/irer/hunts/<config_hash[:12]>``. The page shows
fitness per generation (best, median, best so far, from the ledger of the latest complete generation,
plus the generations still running or failed) as an SVG chart and a table, the top candidates of the
hunt so far, and the best candidate's ``final_rho`` (|ψ|²) and ``final_g_tt`` grids as PNG heatmaps
rendered by the monitor's ``/runs/<id>/heatmap.png`` route. Its ``#study-live`` part is re-fetched from
``.../live`` whenever a run of the hunt changes (see ``runlab.monitor.studies``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import yaml
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from runlab.monitor.files import NotServable
from runlab.monitor.heatmap import NotAGrid, heatmap_of
from runlab.monitor.index import RunRow
from runlab.monitor.studies import StudyContext

from .artifacts import G_TT, RHO
from .ledger import best, generation_summary, ledger_param_names, param_column, read_ledger, top_candidates

__all__ = ["MONITOR", "HuntMonitor", "fitness_chart"]

LEDGER = "results/ledger.parquet"
HUNT_ID_CHARS = 12
GRIDS = ((RHO, "|ψ|² (final_rho)", "magma"), (G_TT, "g_tt (final_g_tt)", "viridis"))
_DEFAULT_TOP = 5
_GEN = re.compile(r"GEN(\d+)")
_HUNT_ID = re.compile(rf"[0-9a-f]{{{HUNT_ID_CHARS}}}")
_TEMPLATES = Path(__file__).resolve().parent / "templates"


class HuntMonitor:
    """The irer study's pages for the monitor (a ``runlab.monitor.studies.StudyMonitor``)."""

    def link(self, record: Mapping[str, Any]) -> str | None:
        tag, config_hash = str(record.get("stage_tag", "")), str(record.get("config_hash", ""))
        if not (_GEN.fullmatch(tag) or tag == "REPORT") or not re.fullmatch(r"[0-9a-f]{12,}", config_hash):
            return None
        return hunt_href(config_hash[:HUNT_ID_CHARS])

    def routes(self, context: StudyContext) -> list[Route]:
        def hunt_context(request: Request) -> dict[str, Any]:
            hunt_id = request.path_params["hunt_id"]
            if not _HUNT_ID.fullmatch(hunt_id):
                raise HTTPException(404, f"{hunt_id!r} is not a hunt id (12 hex digits of its config hash)")
            return _hunt(context, hunt_id)

        async def page(request: Request) -> HTMLResponse:
            view = await _in_thread(hunt_context, request)
            return HTMLResponse(context.render(_TEMPLATES, "hunt.html", title=f"hunt {view['hunt_id']}", **view))

        async def live(request: Request) -> HTMLResponse:
            view = await _in_thread(hunt_context, request)
            return HTMLResponse(context.render(_TEMPLATES, "hunt_live.html", **view),
                                headers={"Cache-Control": "no-store"})

        async def hunts(request: Request) -> HTMLResponse:
            rows = await _in_thread(context.rows)
            listed: dict[str, list[RunRow]] = {}
            for row in rows:
                if row.study_href:
                    listed.setdefault(row.study_href, []).append(row)
            return HTMLResponse(context.render(_TEMPLATES, "hunts.html", title="irer hunts", hunts=sorted(listed.items())))

        return [Route("/", hunts, methods=["GET"]), Route("/hunts/{hunt_id}", page, methods=["GET"]),
                Route("/hunts/{hunt_id}/live", live, methods=["GET"])]


MONITOR = HuntMonitor()


def hunt_href(hunt_id: str) -> str:
    return f"/studies/irer/hunts/{hunt_id}"


async def _in_thread(function: Any, *args: Any) -> Any:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(function, *args)


def _hunt(context: StudyContext, hunt_id: str) -> dict[str, Any]:
    """Everything the hunt page shows, read from the runs of the hunt."""
    href = hunt_href(hunt_id)
    rows = context.rows(href)
    if not rows:
        raise HTTPException(404, f"no irer run of hunt {hunt_id} under the runs root")
    links = {int(match.group(1)): row for row in rows if (match := _GEN.fullmatch(row.stage))}
    report = next((row for row in rows if row.stage == "REPORT"), None)
    complete = [generation for generation, row in sorted(links.items()) if row.status == "complete"]
    view: dict[str, Any] = {"hunt_id": hunt_id, "href": href, "report": report, "problem": None, "top": [],
                            "param_names": (), "best": None, "grids": [], "generations": [], "chart": None}
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
    return {**row, "params": [(name, row[param_column(name)]) for name in names]}


def _top_count(run: Any) -> int:
    """``irer.hunt.top_candidates`` of the hunt's resolved config (5 when it cannot be read)."""
    try:
        return max(1, int(yaml.safe_load(run.config_text())["irer"]["hunt"]["top_candidates"]))
    except Exception:  # noqa: BLE001 - the page still shows the hunt
        return _DEFAULT_TOP


def _grids(context: StudyContext, winner: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The best candidate's field and metric grids: image URL, shape and value range (or why not)."""
    grids = []
    for dataset, label, colormap in GRIDS:
        query = urlencode({"file": winner["artifact"], "dataset": dataset, "cmap": colormap})
        entry: dict[str, Any] = {"label": label, "dataset": dataset, "colormap": colormap,
                                 "src": f"/runs/{winner['run_id']}/heatmap.png?{query}", "problem": None}
        try:
            rendered = heatmap_of(context.open_run(winner["run_id"]).path(winner["artifact"]), dataset,
                                  colormap=colormap)
            entry.update(grid_shape=rendered.grid_shape, image_shape=rendered.image_shape, low=rendered.low,
                         high=rendered.high)
        except (HTTPException, NotServable, NotAGrid) as exc:
            entry["problem"] = str(getattr(exc, "detail", exc))
        grids.append(entry)
    return grids


def fitness_chart(summary: Sequence[Mapping[str, Any]], width: int = 640, height: int = 220) -> dict[str, Any] | None:
    """SVG geometry of fitness per generation (best, median, best so far): polylines in pixels, axis
    ticks, and each point with its value, for ``hunt_live.html``. None when no generation has a finite value."""
    series = (("best_fitness", "best"), ("median_fitness", "median"), ("best_fitness_so_far", "best so far"))
    values = [float(row[key]) for row in summary for key, _ in series
              if row.get(key) is not None and math.isfinite(float(row[key]))]
    if not values:
        return None
    left, right, top, bottom = 56, 12, 10, 30
    generations = [int(row["generation"]) for row in summary]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5, high + 0.5
    first, last = min(generations), max(generations)

    def x(generation: int) -> float:
        return left + (width - left - right) * ((generation - first) / (last - first) if last > first else 0.5)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - (value - low) / (high - low))

    lines = []
    for key, label in series:
        points = [(round(x(int(row["generation"])), 1), round(y(float(row[key])), 1), int(row["generation"]),
                   float(row[key])) for row in summary
                  if row.get(key) is not None and math.isfinite(float(row[key]))]
        lines.append({"key": key, "label": label, "points": points,
                      "path": " ".join(f"{px},{py}" for px, py, _, _ in points)})
    y_ticks = [(round(y(low + (high - low) * step / 4), 1), f"{low + (high - low) * step / 4:.3g}") for step in range(5)]
    stride = max(1, math.ceil(len(generations) / 10))
    x_ticks = [(round(x(generation), 1), str(generation)) for generation in generations[::stride]]
    return {"width": width, "height": height, "left": left, "right": width - right, "top": top,
            "bottom": height - bottom, "lines": lines, "y_ticks": y_ticks, "x_ticks": x_ticks}
