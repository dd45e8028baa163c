"""``runlab monitor`` over a large runs root: the run table, the index behind it, and the live feed.

    .venv/bin/python bench/monitor.py                 # 10,000 runs (about a minute on 2 cores)
    .venv/bin/python bench/monitor.py --runs 2000     # a smaller root

The runs root is filled with ``--runs`` run directories whose records are one real record (made through
``RunStore`` and a stage's writes) copied under other run ids, studies, stages, statuses and hosts; only
``run_record.json`` and ``config_resolved.yaml`` are written per run. The page is fetched through
Starlette's TestClient (in-process, no sockets); the live feed through a real uvicorn server on
loopback.

Sides:

- monitor: ``GET /`` with the in-memory index (``RunIndex``, built once as the server starts, before
  it listens): one stat scan of every ``RUN_*/run_record.json``, records re-read only when their
  (mtime_ns, size) changed, then render.
- baseline "read every record per request": a fresh index per request, so every record is opened
  and parsed, then the same render.
- baseline "validate every record per request": what ``RunStore.read_record`` does for every run
  (parse and JSON Schema validation), without rendering.

The first build of the index (cold, every record parsed) and the stat scan alone (what the feed does
every 0.5 s) are shown apart. Latency of the feed: from the return of a record write to the ``run``
event read by a client, median of a few. Numbers are printed, never asserted. Target (issue 9): the
run table of 10,000 runs in under 1 s; a changed record on the page within 2 s.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from starlette.testclient import TestClient  # noqa: E402

from bench.tables import print_table  # noqa: E402
from runlab.monitor import create_app  # noqa: E402
from runlab.monitor.index import RowFilter, RunIndex  # noqa: E402
from runlab.monitor.render import Pages  # noqa: E402
from runlab.record import RECORD_NAME  # noqa: E402
from runlab.store import RunStore  # noqa: E402
from tests.runlab.monitor_support import EventReader, finish, live_monitor, start_run  # noqa: E402

TARGET_PAGE_S = 1.0
TARGET_EVENT_S = 2.0
STATUSES = ("complete",) * 8 + ("started", "failed")


def fill(root: Path, runs: int) -> RunStore:
    """``runs`` run directories under ``root``: one real run, and copies of its record under other ids."""
    store = RunStore(root)
    template_run = start_run(store, "S01", {"bench": {"runs": runs}})
    template_run.write_table("scores", {"a": list(range(10))})
    finish(template_run)
    template = json.loads((store.root / template_run.run_id / RECORD_NAME).read_text())
    config = (store.root / template_run.run_id / "config_resolved.yaml").read_bytes()
    for number in range(1, runs):
        record = copy.deepcopy(template)
        stage = f"S{number % 12:02d}"
        record.update(run_id=f"RUN_{stage}_{number:012x}", stage_tag=stage, study=("irer", "avalanche_llm",
                      "margin_repair")[number % 3], stage_status=STATUSES[number % len(STATUSES)],
                      host=f"node{number % 64:03d}")
        if record["stage_status"] != "complete":
            record["timings"].update(completed_utc=None, elapsed_s=None)
        run_dir = store.root / record["run_id"]
        run_dir.mkdir()
        (run_dir / "config_resolved.yaml").write_bytes(config)
        (run_dir / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return store


def timed(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def event_latency(store: RunStore, samples: int) -> list[float]:
    """Seconds from a record write returning to its ``run`` event reaching a client of a real server."""
    latencies = []
    with live_monitor(store.root) as base:
        reader = EventReader(base)
        try:
            reader.next(10)  # retry
            for sample in range(samples):
                run = start_run(store, "S99", {"latency": sample})
                written = time.monotonic()
                reader.next_of_run(run.run_id, 10)
                latencies.append(time.monotonic() - written)
                time.sleep(0.13 * (sample % 4))  # land at different points of the scan interval
        finally:
            reader.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="runlab-bench-monitor-"))
    try:
        started = time.perf_counter()
        store = fill(work / "runs", args.runs)
        fill_s = time.perf_counter() - started
        print(f"{args.runs} runs written in {fill_s:.1f} s under {work}; load average {os.getloadavg()[0]:.2f}")

        cold_index = RunIndex(store.root)
        cold_s, _ = timed(cold_index.refresh, 1)
        scan_s, _ = timed(cold_index.refresh, args.repeat)

        started = time.perf_counter()
        with TestClient(create_app(store.root), base_url="http://127.0.0.1") as client:  # runs the startup
            startup_s = time.perf_counter() - started
            first_page_s, first = timed(lambda: client.get("/"), 1)
            page_s, page = timed(lambda: client.get("/"), args.repeat)
            filtered_s, _ = timed(lambda: client.get("/?status=failed&q=node007"), args.repeat)

        pages = Pages(store.root)

        def read_every_record() -> str:
            index = RunIndex(store.root)
            index.refresh()
            return pages.table(index.rows(), RowFilter(), "0")

        reread_s, _ = timed(read_every_record, args.repeat)
        validate_s, _ = timed(lambda: [store.read_record(run_id) for run_id in store.run_ids()], 1)
        render_s, _ = timed(lambda: pages.table(cold_index.rows(), RowFilter(), "0"), args.repeat)
        latencies = event_latency(store, 8)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    size_mb = len(page.content) / 1e6
    print_table(f"Run table of {args.runs} runs (median of {args.repeat}; seconds); target: GET / < {TARGET_PAGE_S:g} s",
                ("what", "seconds", "note"), [
                    ("GET / (monitor: in-memory index, stat scan, render)", f"{page_s:.3f}",
                     f"{size_mb:.1f} MB of HTML, {first.status_code}"),
                    ("GET / first request after start", f"{first_page_s:.3f}", ""),
                    ("server start (builds the index before it listens)", f"{startup_s:.3f}", "once"),
                    ("GET /?status=failed&q=node007", f"{filtered_s:.3f}", "filtered on the server; dropped rows hidden"),
                    ("baseline: read every record per request, render", f"{reread_s:.3f}",
                     f"{reread_s / page_s:.1f}x the monitor"),
                    ("baseline: read and validate every record (RunStore.read_record)", f"{validate_s:.3f}",
                     "no render; once"),
                    ("index: first build (every record parsed)", f"{cold_s:.3f}", "in the server start"),
                    ("index: stat scan, nothing changed", f"{scan_s:.3f}", "what the feed does every 0.5 s"),
                    ("render only (Jinja2, every row)", f"{render_s:.3f}", ""),
                ])
    print_table(f"Live feed: record written -> `run` event at the client ({len(latencies)} samples; seconds); "
                f"target < {TARGET_EVENT_S:g} s", ("statistic", "seconds"), [
                    ("median", f"{statistics.median(latencies):.3f}"),
                    ("max", f"{max(latencies):.3f}"),
                ])


if __name__ == "__main__":
    main()
