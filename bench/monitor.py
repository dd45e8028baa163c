"""``runlab monitor`` over a large runs root: the run table, the index behind it, and the live feed.

    .venv/bin/python -m bench.monitor                 # 10,000 runs (about a minute on 2 cores)
    .venv/bin/python -m bench.monitor --runs 2000     # a smaller root
    .venv/bin/python -m bench.monitor --only heatmap  # the grid heatmaps alone
    .venv/bin/python -m bench.monitor --only memory   # peak memory of a heatmap of a 16000×16000 grid

The runs root is filled with ``--runs`` run directories whose records are one real record (made through
``RunStore`` and a stage's writes) copied under other run ids, studies, stages, statuses and hosts; only
``run_record.json`` and ``config_resolved.yaml`` are written per run. The page is fetched through
Starlette's TestClient (in-process, no sockets); the live feed through a real uvicorn server on
loopback.

Sides:

- monitor: ``GET /`` with the in-memory index (``RunIndex``, built once as the server starts, before
  it listens): one stat scan of every ``RUN_*/run_record.json``, records re-read (and validated against
  the schema, issue 19) only when their (mtime_ns, size) changed, then render.
- baseline "read every record per request": a fresh index per request, so every record is opened,
  parsed and validated, then the same render.
- baseline "validate every record per request": what ``RunStore.read_record`` does for every run
  (parse and JSON Schema validation), without rendering.

The first build of the index (cold, every record parsed) and the stat scan alone (what the feed does
every 0.5 s) are shown apart. Latency of the feed: from the return of a record write to the ``run``
event read by a client, median of a few. Numbers are printed, never asserted. Target (issue 9): the
run table of 10,000 runs in under 1 s; a changed record on the page within 2 s.

Heatmaps: a float32 grid of N×N (256, 1024, 4096) in an HDF5 artifact of a real run, rendered by
``GET /runs/<id>/heatmap.png`` with its cache emptied before every request (read, block means down to
512 a side, colour map, Pillow palette PNG), against the encoders it could have used for the same
512×512 picture (Pillow RGB PNG, ``matplotlib.image.imsave``) and against the baseline of drawing the
whole grid with pyplot's ``imshow`` and ``savefig`` at 512×512 px. Target (issue 9): 1024×1024 in
under 0.5 s.

Memory of a heatmap (issue 19): each render runs in a fresh process (spawned), after a small render that
loads every module; the table shows the process's resident set before ``heatmap_of`` and its peak during
it (``VmHWM`` of ``/proc/self/status``, reset through ``/proc/self/clear_refs``), on a 16000×16000 grid:
compressed with nothing written (the 1 KiB file of the issue, fill values only), compressed with data (h5py's own chunks, and the largest chunks the monitor accepts), at
512 and at 2048 px. Baseline: what the monitor did before issue 19 (the whole dataset read with
``dataset[()]``, then block means), on a 4096×4096 grid only, as it needs 16× that at 16000². Target: a
render adds under ``heatmap.RENDER_LIMIT_MIB``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from starlette.testclient import TestClient

from bench.tables import print_table
from runlab.monitor import create_app
from runlab.monitor.index import RowFilter, RunIndex
from runlab.monitor.render import Pages
from runlab.record import RECORD_NAME
from runlab.store import RunStore
from runlab.testing import EventReader, finish, live_monitor, start_run

TARGET_PAGE_S = 1.0
TARGET_EVENT_S = 2.0
TARGET_HEATMAP_S = 0.5
MEMORY_SIDE = 16_000
GRID_SIDES = (256, 1024, 4096)
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
        with EventReader(base) as reader:
            reader.next(10)  # retry
            for sample in range(samples):
                run = start_run(store, "S99", {"latency": sample})
                written = time.monotonic()
                reader.next_run(10, run_id=run.run_id)
                latencies.append(time.monotonic() - written)
                time.sleep(0.13 * (sample % 4))  # land at different points of the scan interval
    return latencies


def heatmap_rows(work: Path, repeat: int) -> list[tuple[str, ...]]:
    """Seconds (median of ``repeat``) and PNG bytes of each way to render each grid of ``GRID_SIDES``."""
    import io

    import h5py
    import matplotlib
    import numpy as np
    from matplotlib import image as mpl_image
    from PIL import Image

    from runlab.formats import hdf5_bytes
    from runlab.monitor import heatmap

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = RunStore(work / "grids")
    run = start_run(store, "S01", {"bench": "heatmaps"})
    rng = np.random.default_rng(0)
    for side in GRID_SIDES:
        x = np.linspace(0, 8 * np.pi, side, dtype=np.float32)
        grid = np.sin(x)[:, None] * np.cos(x)[None, :] + 0.1 * rng.standard_normal((side, side), dtype=np.float32)
        run.write_bytes(f"data/grid_{side}.h5", hdf5_bytes({"final_rho": grid}))
    finish(run)
    rows: list[tuple[str, ...]] = []
    with TestClient(create_app(store.root), base_url="http://127.0.0.1") as client:
        for side in GRID_SIDES:
            url = f"/runs/{run.run_id}/heatmap.png?file=data/grid_{side}.h5&dataset=final_rho&cmap=magma"

            def monitor() -> bytes:
                heatmap._render.cache_clear()
                return client.get(url).content

            with h5py.File(store.root / run.run_id / f"data/grid_{side}.h5", "r") as h5:
                grid = h5["final_rho"][()]
            reduced = heatmap.block_mean(grid, heatmap.DEFAULT_MAX_PX)
            low, high = float(np.nanmin(reduced)), float(np.nanmax(reduced))
            indices = np.rint((reduced - low) * (254.0 / (high - low))).astype(np.uint8)[::-1]
            palette = heatmap._palette("magma")
            rgb = np.frombuffer(palette, dtype=np.uint8).reshape(256, 3)[indices]

            def pillow(image: Image.Image) -> bytes:
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                return buffer.getvalue()

            def imsave() -> bytes:
                buffer = io.BytesIO()
                mpl_image.imsave(buffer, reduced, cmap="magma", origin="lower", format="png")
                return buffer.getvalue()

            def pyplot() -> bytes:
                figure = plt.figure(figsize=(5.12, 5.12), dpi=100)
                figure.add_axes((0, 0, 1, 1)).imshow(grid, cmap="magma", origin="lower", interpolation="antialiased")
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png")
                plt.close(figure)
                return buffer.getvalue()

            ways = [("monitor: GET heatmap.png (read, block means, colours, palette PNG)", monitor),
                    ("  of which: colours and PNG of the reduced grid (grid_png)", lambda: heatmap.grid_png(
                        reduced, colormap="magma").png),
                    ("  encoder alternative: Pillow RGB PNG, same pixels", lambda: pillow(Image.fromarray(rgb))),
                    ("  encoder alternative: matplotlib.image.imsave (RGBA)", imsave),
                    ("baseline: pyplot imshow + savefig of the whole grid, 512 px", pyplot)]
            measured = [(what, *timed(action, repeat)) for what, action in ways]
            whole, encode = measured[0][1], measured[1][1]
            for what, seconds, png in measured:
                ratio = (f"{seconds / encode:.2f}x grid_png" if "alternative" in what
                         else f"{seconds / whole:.2f}x the monitor" if what.startswith("baseline") else "")
                rows.append((f"{side}x{side}", what, f"{seconds:.4f}", f"{len(png) / 1e3:.0f}", ratio))
    return rows


def print_heatmaps(work: Path, repeat: int) -> None:
    rows = heatmap_rows(work, repeat)
    print_table(f"Grid heatmaps, downsampled to at most 512 px a side (median of {repeat}; seconds, kB of PNG); "
                f"target: 1024x1024 < {TARGET_HEATMAP_S:g} s", ("grid", "what", "seconds", "kB", "note"), rows)


def _status_mib(field: str) -> float:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _render_peak(path: str, dataset: str, max_px: int, whole: bool) -> tuple[float, float, float]:
    """In this (fresh) process: resident MiB before one render of ``dataset``, the peak during it, and its
    seconds; ``whole``: the way before issue 19 (read everything, then block means and colours)."""
    import h5py
    import numpy as np

    from runlab.monitor import heatmap

    heatmap.grid_png(np.ones((4, 4)), colormap="magma")  # every module loaded and the palette made
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from the current size
    before = _status_mib("VmRSS")
    started = time.perf_counter()
    if whole:
        with h5py.File(path, "r") as h5:
            heatmap.grid_png(h5[dataset][()], max_px=max_px, colormap="magma")
    else:
        heatmap.heatmap_of(Path(path), dataset, max_px=max_px, colormap="magma")
    seconds = time.perf_counter() - started
    return before, _status_mib("VmHWM"), seconds


def _write_grids(path: Path) -> None:
    """The grids the memory table renders, written band by band (the bench itself stays small)."""
    import h5py
    import numpy as np

    side = MEMORY_SIDE
    x = np.linspace(0, 8 * np.pi, side, dtype=np.float32)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("empty", shape=(side, side), dtype="f8", compression="gzip")  # fill values only
        written = [h5.create_dataset("h5py_chunks", shape=(side, side), dtype="f4", compression="gzip",
                                     compression_opts=1),
                   h5.create_dataset("chunks_2048", shape=(side, side), dtype="f4", compression="gzip",
                                     compression_opts=1, chunks=(2048, 2048))]
        for row0 in range(0, side, 2048):
            band = np.sin(x[row0:row0 + 2048])[:, None] * np.cos(x)[None, :]
            for dataset in written:
                dataset[row0:row0 + 2048] = band
        small = 4096
        h5.create_dataset("small", data=np.sin(x[:small])[:, None] * np.cos(x[:small])[None, :], compression="gzip",
                          compression_opts=1)


def print_memory(work: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from runlab.monitor import heatmap

    path = work / "grids.h5"
    started = time.perf_counter()
    _write_grids(path)
    print(f"grids written in {time.perf_counter() - started:.0f} s: {path.stat().st_size / 2**20:.0f} MiB of HDF5; "
          f"limits: tiles of {heatmap.TILE_CELLS:,} cells, chunks of at most {heatmap.MAX_CHUNK_CELLS:,}, grids of at "
          f"most {heatmap.MAX_GRID_CELLS:,} cells, {heatmap.RENDERS_AT_ONCE} renders at a time")
    side = f"{MEMORY_SIDE}x{MEMORY_SIDE}"
    cases = [(side, "empty", "f8, gzip, nothing written (fill values)", 512, False),
             (side, "h5py_chunks", "f4, gzip, h5py's chunks", 512, False),
             (side, "h5py_chunks", "f4, gzip, h5py's chunks", 2048, False),
             (side, "chunks_2048", "f4, gzip, chunks of 2048x2048 (the largest accepted)", 512, False),
             (side, "chunks_2048", "f4, gzip, chunks of 2048x2048 (the largest accepted)", 2048, False),
             ("4096x4096", "small", "f8, gzip: the monitor", 512, False),
             ("4096x4096", "small", "f8, gzip: baseline, whole dataset read (before issue 19)", 512, True)]
    rows = []
    for grid, dataset, what, max_px, whole in cases:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            before, after, seconds = pool.submit(_render_peak, str(path), dataset, max_px, whole).result()
        rows.append((grid, what, str(max_px), f"{before:.0f}", f"{after:.0f}", f"{after - before:.0f}",
                     f"{seconds:.1f}"))
    print_table(f"Peak memory of one heatmap render, fresh process each (MiB of resident set); target: a render "
                f"adds < {heatmap.RENDER_LIMIT_MIB} MiB",
                ("grid", "dataset", "max_px", "resident before", "peak during", "added", "seconds"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("table", "heatmap", "memory"), help="one section (default: all)")
    args = parser.parse_args()
    if args.only in (None, "memory"):
        work = Path(tempfile.mkdtemp(prefix="runlab-bench-memory-"))
        try:
            print_memory(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.only == "memory":
        return
    if args.only != "table":
        work = Path(tempfile.mkdtemp(prefix="runlab-bench-heatmap-"))
        try:
            print_heatmaps(work, args.repeat)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.only == "heatmap":
        return
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
                    ("index: first build (every record parsed and validated)", f"{cold_s:.3f}", "in the server start"),
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
