"""Helpers of the monitor's tests: a report-like run, a failed run, runs to sort, and the run table read back
from HTML. Runs written straight through the store and the live monitor come from ``runlab.testing``."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from matplotlib.figure import Figure

from runlab.record import utc_now
from runlab.run import Run
from runlab.store import RunStore
from runlab.testing import finish, start_run


def figure_png_run(store: RunStore) -> str:
    """A complete run with a table, a figure (``figs/curve.png``, 150 x 100 px), results and a log: what a
    study's report stage writes."""
    run = start_run(store, "S05", {"report": {"rows": 120}}, study="report_study")
    run.write_table("scores", {"gain": [round(0.01 * i, 2) for i in range(120)],
                               "label": ["<b>bold?</b>" if i == 0 else f"g{i}" for i in range(120)]})
    figure = Figure(figsize=(3, 2), dpi=50)
    figure.add_subplot().plot([0, 1, 2], [0, 1, 4])
    run.write_figure("curve", figure)
    run.write_jsonl("steps", [{"step": 1}])
    finish(run)
    return run.run_id


def fail(run: Run, message: str) -> None:
    """Mark ``run`` failed the way a crashing stage does."""
    run.store.update_record(run.run_id, lambda record: record.update(
        stage_status="failed", error={"type": "ValueError", "message": message, "utc": utc_now()}))


def restamp(store: RunStore, run_id: str, started_utc: str, elapsed_s: float | None, failed_utc: str | None = None) -> None:
    """Give a run's record another start time and elapsed time, and a failed run's error another time (written
    as a record's own text is)."""
    path = store.root / run_id / "run_record.json"
    record = json.loads(path.read_text())
    record["timings"].update(started_utc=started_utc, elapsed_s=elapsed_s)
    if failed_utc is not None:
        record["error"]["utc"] = failed_utc
    path.write_text(json.dumps(record, indent=2))


def four_runs(store: RunStore) -> dict[str, str]:
    """Runs to sort: a (alpha, S01, started 2026-01-01 10:00, 30 s, complete), b (beta, S02, 01-03, 5 s,
    complete), c (alpha, S03, 01-02, failed 12 s after its start) and d (S09), whose record is unreadable: no
    study, start or elapsed time. Returns their run ids by letter."""
    a = start_run(store, "S01", {"a": 1}, study="alpha")
    finish(a)
    b = start_run(store, "S02", {"b": 1}, study="beta")
    finish(b)
    c = start_run(store, "S03", {"c": 1}, study="alpha")
    fail(c, "boom")
    restamp(store, a.run_id, "2026-01-01T10:00:00.000000Z", 30.0)
    restamp(store, b.run_id, "2026-01-03T10:00:00.000000Z", 5.0)
    restamp(store, c.run_id, "2026-01-02T10:00:00.000000Z", None, failed_utc="2026-01-02T10:00:12.000000Z")
    unreadable = "RUN_S09_0123456789ab"
    (store.root / unreadable).mkdir()
    (store.root / unreadable / "run_record.json").write_text("{not json")
    return {"a": a.run_id, "b": b.run_id, "c": c.run_id, "d": unreadable}


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id") or attributes.get("class") or "table"
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._hidden = "hidden" in attributes
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if not self._hidden:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def html_tables(html: str) -> dict[str, list[list[str]]]:
    """Every ``<table>`` of a page by its id (or class), as rows of cell texts, header row first; rows marked
    ``hidden`` (filtered out) are left out, as a browser shows it."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def run_table(html: str) -> dict[str, dict[str, str]]:
    """The run table of the monitor's front page: run id -> {column: cell text}."""
    header, *rows = html_tables(html)["runs"]
    return {row[header.index("run id")]: dict(zip(header, row)) for row in rows}


def shown_number(value: float | None) -> str:
    """``value`` as the monitor's pages print a measured number (``%.4g``; ``-`` for none or NaN)."""
    return "-" if value is None or value != value else f"{value:.4g}"
