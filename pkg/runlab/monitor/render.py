"""Server-side HTML of the monitor's pages (Jinja2 templates in ``templates/``, autoescaped)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlencode

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from ..store import RunStore
from .files import NotServable, RunFiles
from .index import FILTERED, RowFilter, RunRow, row_from_record
from .order import COLUMNS, DEFAULT_ORDER, RowOrder, sort_keys
from .preview import TablePreview, preview_table

__all__ = ["Pages"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _utc(text: str | None) -> str:
    """``2026-01-02T03:04:05.678901Z`` -> ``2026-01-02 03:04:05``."""
    return text[:19].replace("T", " ") if text else "-"


def _seconds(value: float | None) -> str:
    """Seconds as ``4.2 s``, ``12 min 5 s`` or ``3 h 02 min``."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _number(value: object) -> str:
    """A measured value in 4 significant digits; ``-`` for anything else (none, undefined) and NaN."""
    return f"{value:.4g}" if isinstance(value, (int, float)) and value == value else "-"


def _preview(run: RunFiles, relative_path: str) -> TablePreview:
    try:
        return preview_table(run.path(relative_path))
    except NotServable as exc:
        return TablePreview([], [], 0, exc.reason)


class Pages:
    """Renders the run table, a run's page, a single table row (for the live feed) and error pages."""

    def __init__(self, runs_root: Path) -> None:
        self.runs_root = str(runs_root)
        self._env = self._environment(FileSystemLoader(_TEMPLATES))
        self._study_envs: dict[Path, Environment] = {}

    @staticmethod
    def _environment(loader: Any) -> Environment:
        env = Environment(loader=loader, autoescape=select_autoescape(default=True), trim_blocks=True,
                          lstrip_blocks=True)
        env.filters.update(utc=_utc, seconds=_seconds, number=_number, sort_keys=sort_keys)
        return env

    def table(self, rows: Sequence[RunRow], chosen: RowFilter, seq: str, order: RowOrder = DEFAULT_ORDER) -> str:
        """The run table of all ``rows`` in ``order``, those that ``chosen`` does not keep marked ``hidden`` (so
        the filter and the order work without JavaScript, and the page's script can change them without a
        reload). Each header links to the order a click on it asks for, under the same filters."""
        now = datetime.now(timezone.utc)
        choices = [(name, sorted({getattr(row, name) for row in rows} - {""})) for name in FILTERED]
        shown = sum(chosen.keeps(row) for row in rows)
        filters = {name: chosen[name] for name in (*FILTERED, "q") if chosen[name]}
        headers = [(column, order.aria_sort if column.name == order.column else None,
                    "?" + urlencode({**filters, **order.after_click(column.name).query()})) for column in COLUMNS]
        return self._render("table.html", title="runs", rows=order.sort(rows, now), shown=shown, choices=choices,
                            filters=chosen, order=order, default_order=DEFAULT_ORDER, headers=headers, seq=seq,
                            now=now)

    def row(self, row: RunRow) -> str:
        """One ``<tr>`` of the run table, as the table page renders it."""
        macro = self._env.get_template("row.html").module.run_row  # type: ignore[attr-defined]
        return str(macro(row, datetime.now(timezone.utc)))

    def run(self, run: RunFiles, study_href: str | None = None) -> str:
        """The page of one run: summary, artifacts, figures, table previews, resolved config, record."""
        artifacts = list(run.record["artifact_index"])
        paths = [entry["relative_path"] for entry in artifacts]
        figures = [path for path in paths if path.startswith("figs/") and path.endswith(".png")]
        tables = [(path, _preview(run, path)) for path in paths
                  if path.startswith("tables/") and path.endswith((".csv", ".parquet"))]
        summary = row_from_record(run.run_id, run.record, RunStore(run.root))
        try:
            config = run.config_text()
        except NotServable as exc:
            config = f"(cannot show the resolved config: {exc.reason})"
        return self._render("run.html", title=run.run_id, run=run, artifacts=artifacts, figures=figures, tables=tables,
                            slurm=summary.slurm, elapsed=summary.elapsed_at(datetime.now(timezone.utc)),
                            config=config, record_text=run.record_text(), study_href=study_href,
                            code_changed=summary.code_changed, verdict=summary.verdict, status=summary.status,
                            progress=summary.progress,
                            output=run.output_tail() if summary.status in ("running", "dead", "failed") else [])

    def error(self, status_code: int, reason: str) -> str:
        return self._render("error.html", title=str(status_code), status_code=status_code, reason=reason)

    def render_from(self, templates: Path, name: str, **context: Any) -> str:
        """Template ``name`` of a study's folder ``templates``, which can extend the monitor's ``base.html``
        and use its filters (``utc``, ``seconds``, ``number``) and the macro ``line_chart`` of ``chart.html``."""
        env = self._study_envs.get(templates)
        if env is None:
            env = self._study_envs.setdefault(templates, self._environment(
                ChoiceLoader([FileSystemLoader(templates), FileSystemLoader(_TEMPLATES)])))
        return env.get_template(name).render(runs_root=self.runs_root, **context)

    def _render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(runs_root=self.runs_root, **context)
