"""The irer hunt page of ``runlab monitor`` in a real browser: headless Chromium (the ``browser`` fixture of
tests/conftest.py) opens the page of a real 2-generation hunt served by a real uvicorn server and checks what
a person sees: each generation's row with the fitness its ledger gives, one chart point per generation, the
best candidate's grids decoded as images of the grid's shape, and a third generation landing in the open
page, without a reload, as its ``runlab submit`` completes. Screenshots go to
``test-artifacts/screenshots/<test>/``."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h5py
import matplotlib
import pytest
from PIL import Image

from irer.artifacts import G_TT, RHO
from irer.ledger import best, generation_summary, read_ledger
from tests.support.browser import Browser
from tests.support.hunt import submit, two_generation_hunt
from runlab.testing import live_monitor
from tests.support.monitor import shown_number

pytestmark = pytest.mark.browser

SERIES = ("best_fitness", "median_fitness", "best_fitness_so_far")


@pytest.fixture(scope="module")
def hunt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Generations 0 and 1 of a 3-generation hunt (generation 2 is left for the live test)."""
    return two_generation_hunt(tmp_path_factory.mktemp("hunt"))


def _ledger_of(root: Path, run_id: str) -> Any:
    return read_ledger((root / run_id / "results" / "ledger.parquet").read_bytes())


def _generation_rows(browser: Browser) -> dict[str, dict[str, str]]:
    """The ``#generations`` table as rendered, read at one instant: generation -> {column: text}."""
    header, *rows = browser.driver.execute_script(
        "const cells = (row) => Array.from(row.cells, (cell) => cell.innerText.trim());"
        "const table = document.getElementById('generations');"
        "return [cells(table.tHead.rows[0]), ...Array.from(table.tBodies[0].rows, cells)];")
    assert [cells[0] for cells in rows] == [cells[0] for cells in sorted(rows, key=lambda cells: int(cells[0]))]
    return {cells[0]: dict(zip(header, cells)) for cells in rows}


def _expected_rows(ledger: Any, runs: dict[str, str]) -> dict[str, dict[str, str]]:
    """What ``#generations`` shows for every generation of ``ledger``, all complete (``%.4g`` fitness)."""
    return {str(row["generation"]): {
        "generation": str(row["generation"]), "run": runs[f"GEN{row['generation']:03d}"], "status": "complete",
        "candidates": str(row["n_candidates"]), "finite": str(row["n_finite"]),
        "best fitness": shown_number(row["best_fitness"]), "median fitness": shown_number(row["median_fitness"]),
        "best so far": shown_number(row["best_fitness_so_far"]), "best candidate": str(row["best_candidate"]),
    } for row in generation_summary(ledger).to_pylist()}


def _chart_points(browser: Browser) -> dict[str, int]:
    """Points of each series of ``#fitness-chart``: series name -> number of circles."""
    return browser.driver.execute_script(
        "const points = {};"
        "for (const group of document.querySelectorAll('#fitness-chart g[data-series]'))"
        "  points[group.dataset.series] = group.querySelectorAll('circle').length;"
        "return points;")


def _finite_points(ledger: Any) -> dict[str, int]:
    """Points each series should have: generations of ``ledger`` with a finite value of it."""
    summary = generation_summary(ledger).to_pylist()
    return {key: sum(row[key] is not None and row[key] == row[key] for row in summary) for key in SERIES}


def _decoded(browser: Browser, dataset: str) -> dict[str, Any]:
    """The heatmap ``<img>`` of ``dataset`` once the browser has loaded and decoded it: its src, natural size
    and figcaption (the element is looked up afresh each poll: the live part may be replaced meanwhile)."""
    script = ("const figure = document.getElementById(arguments[0]);"
              "const img = figure && figure.querySelector('img');"
              "if (!img) return null;"
              "img.scrollIntoView();"  # in case it loads lazily
              "return img.complete && img.naturalWidth > 0 && {src: img.getAttribute('src'),"
              "  width: img.naturalWidth, height: img.naturalHeight,"
              "  caption: figure.querySelector('figcaption').innerText};")
    return browser.wait(lambda: browser.driver.execute_script(script, f"grid-{dataset}"),
                        f"the {dataset} heatmap did not load and decode")


def _fetched_png(browser: Browser, src: str) -> Image.Image:
    """``src`` as the page's own ``fetch`` gets it (same origin, same cookies), decoded by Pillow."""
    got = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {cache: 'no-store'}).then(async (response) => {"
        "  const bytes = new Uint8Array(await response.arrayBuffer());"
        "  let text = '';"
        "  for (let i = 0; i < bytes.length; i += 0x8000)"
        "    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));"
        "  done({status: response.status, type: response.headers.get('content-type'), data: btoa(text)});"
        "}).catch((error) => done({error: String(error)}));", src)
    assert "error" not in got, got
    assert got["status"] == 200 and got["type"] == "image/png"
    image = Image.open(io.BytesIO(base64.b64decode(got["data"])))
    image.load()
    return image


def _check_best_grids(browser: Browser, root: Path, ledger: Any) -> None:
    """Both grids of the best candidate of ``ledger`` are shown, decoded at the shape of its HDF5 datasets."""
    winner = best(ledger)
    assert winner is not None
    with h5py.File(root / winner["run_id"] / winner["artifacts"][0], "r") as artifact:
        shapes = {dataset: artifact[dataset].shape for dataset in (RHO, G_TT)}
    for dataset, (rows, columns) in shapes.items():
        shown = _decoded(browser, dataset)
        src = urlsplit(shown["src"])
        assert src.path == f"/runs/{winner['run_id']}/heatmap.png"
        query = parse_qs(src.query)
        assert query["file"] == [winner["artifacts"][0]] and query["dataset"] == [dataset]
        assert (shown["width"], shown["height"]) == (columns, rows)
        assert _fetched_png(browser, shown["src"]).size == (columns, rows)
        assert f"{rows}×{columns} grid" in shown["caption"]
        bar = browser.driver.execute_script(
            "const bar = document.querySelector(`#${arguments[0]} .colorbar`); const img = bar.querySelector('img');"
            "return {src: img.getAttribute('src'), width: img.naturalWidth, height: img.naturalHeight,"
            "  ticks: Array.from(bar.querySelectorAll('.colorbar-ticks span'), (span) => span.innerText),"
            "  units: bar.querySelector('.colorbar-units').innerText};", f"grid-{dataset}")
        colormap = query["cmap"][0]
        assert bar["src"] == f"/colorbar/{colormap}.png" and (bar["width"], bar["height"]) == (255, 12)
        strip = _fetched_png(browser, bar["src"]).convert("RGB")
        assert strip.getpixel((0, 0)) == tuple(round(255 * c) for c in matplotlib.colormaps[colormap](0.0)[:3])
        assert strip.getpixel((254, 0)) == tuple(round(255 * c) for c in matplotlib.colormaps[colormap](1.0)[:3])
        assert len(bar["ticks"]) == 3 and bar["units"] in ("|ψ|² in model units (cubic saturation coefficient 1)",
                                                            "g_tt, dimensionless")


def test_the_hunt_page_shows_each_generation_its_chart_and_the_best_grids(browser, hunt):
    root, runs = hunt["root"], hunt["runs"]
    ledger = _ledger_of(root, runs["GEN001"])
    with live_monitor(root) as base:
        browser.driver.get(f"{base}{hunt['href']}")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")

        assert _generation_rows(browser) == _expected_rows(ledger, runs)
        assert set(_generation_rows(browser)) == {"0", "1"}
        assert _chart_points(browser) == _finite_points(ledger)
        assert _chart_points(browser)["best_fitness"] == 2
        _check_best_grids(browser, root, ledger)
        browser.shot("two-generations")


def test_a_generation_landing_while_the_page_is_open_joins_its_table_chart_and_grids(browser, hunt, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(hunt["root"], root, symlinks=True)
    with live_monitor(root) as base:
        browser.driver.get(f"{base}{hunt['href']}")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        browser.wait(lambda: set(_generation_rows(browser)) == {"0", "1"}, "generations 0 and 1 are not shown")
        browser.driver.execute_script("window.__notReloaded = true")

        submit(hunt["config"], root, "GEN002")  # synchronous: the run is complete when it returns
        browser.wait(lambda: _generation_rows(browser).get("2", {}).get("status") == "complete",
                     "generation 2 did not arrive as complete")

        runs = {path.name.split("_")[1]: path.name for path in root.glob("RUN_*")}
        assert sorted(runs) == ["GEN000", "GEN001", "GEN002"]
        ledger = _ledger_of(root, runs["GEN002"])
        assert _generation_rows(browser) == _expected_rows(ledger, runs)
        assert _chart_points(browser) == _finite_points(ledger)
        assert _chart_points(browser)["best_fitness"] == 3
        _check_best_grids(browser, root, ledger)
        assert browser.driver.execute_script("return window.__notReloaded") is True
        assert browser.text("#live") == "live"
        browser.shot("third-generation-landed")
