"""Helpers of the monitor's tests: real runs written through the run store, the monitor served by a real
uvicorn server on a free port, a server-sent events reader, and the run table read back from HTML."""

from __future__ import annotations

import hashlib
import http.client
import json
import queue
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import yaml
from matplotlib.figure import Figure

from runlab.canon import load_registry
from runlab.config import resolve_config
from runlab.execute import complete_run
from runlab.monitor.serve import make_server
from runlab.run import Run
from runlab.identity import StageIdentity
from runlab.store import ExecutionContext, RunSpec, RunStore

REPO = Path(__file__).resolve().parents[2]
LOCAL = ExecutionContext(executor="local")


def start_run(store: RunStore, tag: str, values: dict[str, Any] | Path, *, study: str = "testing",
              context: ExecutionContext = LOCAL) -> Run:
    """Create the run of stage ``tag`` (status ``started``) for the config ``values``, or for the config file
    at ``values`` (another run's ``config_study.yaml`` gives a run of the same study config), and return it."""
    if isinstance(values, Path):
        path = values
    else:
        folder = store.root.parent / "configs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{tag}_{hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]}.yaml"
        path.write_text(yaml.safe_dump(values))
    config = resolve_config(path, load_registry(REPO / "spec" / "00_CANONICAL.md"))
    identity = StageIdentity.reading_everything(study, tag, config.data)
    spec = RunSpec(run_id=identity.run_id, run_id_mode="content_hash", identity=identity, study_config=config,
                   submission_id="a" * 16, seed=7)
    record = store.open_run(spec, context, allow_resume=False)
    assert record is not None
    return Run(store, record, spec.stage_config())


def finish(run: Run) -> None:
    complete_run(run.store, run.run_id, {})


def figure_png_run(store: RunStore) -> str:
    """A complete run with a table, a figure (``figs/curve.png``, 150 x 100 px), results and a log: what a
    study's report stage writes."""
    run = start_run(store, "S05", {"report": {"rows": 120}}, study="report_study")
    run.write_table("scores", {"gain": [round(0.01 * i, 2) for i in range(120)],
                               "label": ["<b>bold?</b>" if i == 0 else f"g{i}" for i in range(120)]})
    figure = Figure(figsize=(3, 2), dpi=50)
    figure.add_subplot().plot([0, 1, 2], [0, 1, 4])
    run.write_figure("curve", figure)
    run.write_jsonl("events", [{"step": 1}])
    finish(run)
    return run.run_id


def fail(run: Run, message: str) -> None:
    """Mark ``run`` failed the way a crashing stage does."""
    from runlab.record import utc_now

    run.store.update_record(run.run_id, lambda record: record.update(
        stage_status="failed", error={"type": "ValueError", "message": message, "utc": utc_now()}))


@contextmanager
def live_monitor(runs_root: Path, interval_s: float = 0.5, port: int = 0, **limits: Any) -> Iterator[str]:
    """The monitor of ``runs_root`` served by uvicorn on loopback ``port`` (0: a free one), with ``limits``
    (``request_timeout_s``, ``max_streams``) passed to ``make_server``; yields its base URL."""
    server = make_server(runs_root, "127.0.0.1", 0, interval_s=interval_s, **limits)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the same port again right after a stop
    listening.bind(("127.0.0.1", port))
    port = listening.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the monitor server did not start")
        thread.join(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()
        assert not thread.is_alive(), "the monitor server did not stop"


@dataclass(frozen=True)
class Event:
    id: str | None
    kind: str
    data: dict[str, Any] | None


class EventReader:
    """Reads ``/events`` of a live monitor in a thread; :meth:`next` returns the next event (a ``retry`` line
    comes back as kind ``retry``)."""

    def __init__(self, base_url: str, path: str = "/events", headers: dict[str, str] | None = None) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self._connection.request("GET", path, headers=headers or {})
        self.response = self._connection.getresponse()
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for raw in self.response:
                line = raw.decode("utf-8").rstrip("\n")
                if line:
                    name, _, value = line.partition(":")
                    if name:
                        fields[name] = value.removeprefix(" ")
                    continue
                if "retry" in fields:
                    self._events.put(Event(None, "retry", {"ms": int(fields["retry"])}))
                elif "event" in fields:
                    self._events.put(Event(fields.get("id"), fields["event"], json.loads(fields["data"])))
                fields = {}
        except Exception:  # noqa: BLE001 - closed under the reader by close(): the stream ended
            pass
        self._events.put(None)

    def next(self, timeout_s: float) -> Event:
        """The next event within ``timeout_s`` (queue.Empty otherwise; AssertionError if the stream ended)."""
        event = self._events.get(timeout=timeout_s)
        assert event is not None, "the event stream ended"
        return event

    def next_run(self, timeout_s: float, **fields: Any) -> Event:
        """The next ``run`` event whose data has every one of ``fields`` (``run_id=…``, ``stage=…``,
        ``status=…``) within ``timeout_s`` in all."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = self.next(max(0.0, deadline - time.monotonic()))
            if event.kind == "run" and all(event.data.get(name) == value for name, value in fields.items()):
                return event

    def __enter__(self) -> "EventReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self._thread.join(5)
        self._connection.close()


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
