"""A malformed run record is one row that says why, never a 500: each shape is written into a real run's
record, then the run table (TestClient and a real server that starts on that root), the run's page and
the live feed are read back."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

from runlab.monitor import create_app
from runlab.monitor.records import MAX_DEPTH
from runlab.store import RunStore

from runlab.testing import EventReader, finish, live_monitor, start_run
from tests.support.monitor import run_table

UTC_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\\\.[0-9]+)?Z$"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


# (what is wrong, how to write it: a change to the parsed record or the record's new text, the row's reason)
SHAPES = [
    ("slurm a string", _set(("slurm",), "4242"), "invalid at slurm: '4242' is not of type 'object'"),
    ("slurm a list", _set(("slurm",), [1]), "invalid at slurm: [1] is not of type 'object'"),
    ("started_utc not a time", _set(("timings", "started_utc"), "yesterday"),
     f"invalid at timings.started_utc: 'yesterday' does not match '{UTC_PATTERN}'"),
    ("started_utc of the pattern, but no date", _set(("timings", "started_utc"), "2026-13-45T99:99:99Z"),
     "invalid at timings.started_utc: '2026-13-45T99:99:99Z' is not a UTC time like 2026-01-02T03:04:05.678901Z"),
    ("started_utc without microseconds", _set(("timings", "started_utc"), "2026-01-02T03:04:05Z"),
     "invalid at timings.started_utc: '2026-01-02T03:04:05Z' is not a UTC time like 2026-01-02T03:04:05.678901Z"),
    ("nested 40 deep in a free-form object", _set(("annotations",), {"deep": _nested(40)}),
     f"nested deeper than {MAX_DEPTH} levels"),
    ("nested 100000 deep", "[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
    ("not JSON", "{not json", "not readable JSON: Expecting property name enclosed in double quotes: "
                              "line 1 column 2 (char 1)"),
    ("a list", "[]", "invalid at (top level): [] is not of type 'object'"),
    ("host a number", _set(("host",), 7), "invalid at host: 7 is not of type 'string'"),
    ("not UTF-8", b'{"a": "\xff"}', "not readable JSON: 'utf-8' codec can't decode byte 0xff in position 7: "
                                    "invalid start byte"),
]


def _spoil(run_dir: Path, how: Callable[[dict[str, Any]], None] | str | bytes) -> None:
    """Rewrite the record of ``run_dir`` as ``how`` says, without the store's validation."""
    path = run_dir / "run_record.json"
    if callable(how):
        record = json.loads(path.read_text())
        how(record)
        data: str | bytes = json.dumps(record, indent=2)
    else:
        data = how
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict[str, str], str]:
    """A runs root with one good run and one run per malformed shape; returns the store, reason by run id,
    and the good run's id."""
    store = RunStore(tmp_path_factory.mktemp("spoiled") / "runs")
    good = start_run(store, "S00", {"good": 1})
    finish(good)
    reasons = {}
    for number, (_, how, reason) in enumerate(SHAPES):
        run = start_run(store, f"S{number + 1:02d}", {"spoiled": number})
        _spoil(store.root / run.run_id, how)
        reasons[run.run_id] = reason
    return store, reasons, good.run_id


def test_each_malformed_record_is_one_row_that_says_why(spoiled):
    store, reasons, good = spoiled
    client = TestClient(create_app(store.root), base_url="http://127.0.0.1")
    page = client.get("/")
    assert page.status_code == 200
    rows = run_table(page.text)
    assert {run_id: row["status"] for run_id, row in rows.items() if run_id != good} == {
        run_id: f"unreadable record: {reason}" for run_id, reason in reasons.items()}
    assert rows[good]["status"] == "complete"
    assert set(run_table(client.get("/?status=unreadable").text)) == set(reasons)
    assert set(run_table(client.get("/?q=deeper").text)) == {run_id for run_id, reason in reasons.items()
                                                              if "deeper" in reason}


def test_the_page_of_a_malformed_run_is_a_404_with_the_reason(spoiled):
    store, reasons, _ = spoiled
    client = TestClient(create_app(store.root), base_url="http://127.0.0.1")
    for run_id, reason in reasons.items():
        for path in (f"/runs/{run_id}", f"/runs/{run_id}/files/run_record.json"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert f"unreadable record: {reason}".replace("'", "&#39;") in response.text, path


def test_a_monitor_starts_on_a_root_of_malformed_records_and_its_feed_goes_on(spoiled):
    store, reasons, good = spoiled
    with live_monitor(store.root) as base:
        with urllib.request.urlopen(f"{base}/") as response:
            assert response.status == 200
            rows = run_table(response.read().decode())
        assert {run_id: rows[run_id]["status"] for run_id in reasons} == {
            run_id: f"unreadable record: {reason}" for run_id, reason in reasons.items()}
        with EventReader(base, "/events?since=0") as reader:
            assert reader.next(10).kind == "retry"
            sent = {reader.next_run(10, run_id=run_id).data["problem"] for run_id in sorted(reasons)}
            assert sent == {f"unreadable record: {reason}" for reason in reasons.values()}
            for number, (_, how, reason) in enumerate(SHAPES):  # spoiled while the feed runs: a row each time
                later = start_run(store, f"T{number:02d}", {"later": number})
                reader.next_run(10, run_id=later.run_id, status="running")
                _spoil(store.root / later.run_id, how)
                event = reader.next_run(10, run_id=later.run_id, status="unreadable")
                assert event.data["problem"] == f"unreadable record: {reason}"
            after = start_run(store, "U01", {"after": 1})  # and the feed still brings good runs
            assert reader.next_run(10, run_id=after.run_id).data["status"] == "running"
        with urllib.request.urlopen(f"{base}/runs/{good}") as response:
            assert response.status == 200


def test_a_record_that_is_a_fifo_is_not_waited_on(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = start_run(store, "S01", {"fifo": 1})
    record = store.root / run.run_id / "run_record.json"
    record.unlink()
    os.mkfifo(record)
    client = TestClient(create_app(store.root), base_url="http://127.0.0.1")
    assert run_table(client.get("/").text)[run.run_id]["status"] == (
        "unreadable record: run_record.json is not a regular file")
    assert client.get(f"/runs/{run.run_id}").status_code == 404
