"""The avalanche page of ``runlab monitor`` over real phases on the tiny GPT-2: every phase of a config on
one pipeline page, the total branching ratio per gain with g*, the per-layer branching curves and nulls of
S04, and S05's figure; a sweep killed between gains shows the gains that landed (from their raster files)
and the rest pending, and its resumption arrives as events of the pipeline until g* is on the page."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import h5py
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image
from starlette.testclient import TestClient

from avalanche_llm import cli
from avalanche_llm.analysis.summarize import TOTAL_LAYER
from runlab.monitor import create_app
from runlab.record import read_record

from tests.support.faults import kill_once_indexed
from runlab.testing import EventReader, live_monitor
from tests.support.monitor import html_tables, run_table, shown_number

from .conftest import tiny_study

GAINS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5]
PHASES = ["phase1", "phase2", "phase3", "phase4", "phase5"]


def _phase(phase: str, config: Path, root: Path, *extra: str) -> list[str]:
    return [phase, "--config", str(config), "--device", "cpu", "--dtype", "fp32", "--runs_root", str(root), *extra]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2: Path, arc_folder: Path) -> dict[str, Any]:
    """Phases 1-5 of the tiny study over 8 gains, complete in ``complete``; in ``partial``, phase 1 and a
    phase 2 killed after its first gains."""
    folder = tmp_path_factory.mktemp("pipeline")
    config = tiny_study(tiny_gpt2, arc_folder)
    config["avalanche_llm"]["gain"]["values"] = GAINS
    config["avalanche_llm"]["text"]["analysis_sequences"] = 96
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    complete, partial = folder / "complete", folder / "partial"
    assert [cli.main(_phase(phase, path, complete)) for phase in PHASES] == [0] * len(PHASES)
    assert cli.main(_phase("phase1", path, partial)) == 0
    kept = kill_once_indexed([sys.executable, "-m", "avalanche_llm", *_phase("phase2", path, partial)], partial, "S02",
                             "data/rasters_gain")
    assert 1 <= kept < len(GAINS), f"the kill came too late ({kept} gains written)"
    runs = {path.name.split("_")[1]: path for path in complete.glob("RUN_*")}
    config_hash = read_record(runs["S02"])["study_config_hash"]
    return {"config": path, "complete": complete, "partial": partial, "kept": kept, "runs": runs,
            "href": f"/studies/avalanche_llm/pipelines/{config_hash[:12]}"}


def client_of(root: Path) -> TestClient:
    return TestClient(create_app(root), base_url="http://127.0.0.1")


def test_every_phase_links_to_its_pipeline_page(pipeline):
    client = client_of(pipeline["complete"])
    table = client.get("/").text
    assert set(run_table(table)) == {run.name for run in pipeline["runs"].values()}
    for run in pipeline["runs"].values():
        assert re.search(rf'<tr id="run-{run.name}"[^>]*>.*?href="{pipeline["href"]}"', table, re.S)
    listing = client.get("/studies/avalanche_llm/")
    assert listing.status_code == 200
    assert html_tables(listing.text)["groups"][1][:2] == [pipeline["href"].rsplit("/", 1)[1], "5"]


def gstar_heading(gstar: dict) -> str:
    """How the page and the sweep chart name g*: its value, or that the sweep has none (spec/08)."""
    return f"g* = {gstar['gstar']:.3g}" if gstar["gstar"] is not None else "no g*"


def test_the_pipeline_page_shows_the_sweep_g_star_the_layer_curves_and_the_figure(pipeline):
    client = client_of(pipeline["complete"])
    page = client.get(pipeline["href"])
    assert page.status_code == 200
    tables = html_tables(page.text)
    assert [row[0] for row in tables["stages"][1:]] == ["S01", "S02", "S03", "S04", "S05"]
    assert {row[2] for row in tables["stages"][1:]} == {"complete"}

    sweep = pipeline["runs"]["S02"]
    expected = pq.read_table(sweep / "results" / "gain_sweep.parquet").to_pylist()
    assert [row[:4] for row in tables["gains"][1:]] == [
        [f"{row['gain']:g}", "landed",
         shown_number(row["b_tot_mr"]), shown_number(row["b_tot_mr_stderr"])] for row in expected]
    assert [row[4] for row in tables["gains"][1:]] == [row["b_tot_fit_status"] for row in expected]
    gstar = json.loads((sweep / "results" / "gstar.json").read_text())
    shown = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'<p id="gstar">(.*?)</p>', page.text, re.S).group(1)))
    assert shown.startswith(f"{gstar_heading(gstar)} ({gstar['method']}): {gstar['message']}. "
                            f"At g = {gstar['reference_gain']:g}: b_tot {shown_number(gstar['b_tot'])}")

    sweep_chart = re.search(r'<svg class="chart" id="sweep-chart".*?</svg>', page.text, re.S).group(0)
    assert sweep_chart.count('data-series="b_tot_mr"') == 1
    assert (f'data-mark="{gstar_heading(gstar)}"' in sweep_chart) == (gstar["gstar"] is not None)
    mr_points = re.search(r'data-series="b_tot_mr">(.*?)</g>', sweep_chart, re.S).group(1)
    finite = [row for row in expected if row["b_tot_mr"] == row["b_tot_mr"]]
    assert mr_points.count("<circle") == len(finite) >= 2

    branching = pq.read_table(pipeline["runs"]["S04"] / "results" / "branching.parquet").to_pylist()
    layer_chart = re.search(r'<svg class="chart" id="layer-chart".*?</svg>', page.text, re.S).group(0)
    layers = sorted({row["layer"] for row in branching if row["source"] == "data" and row["layer"] != TOTAL_LAYER})
    assert re.findall(r'data-series="(\w+)"', layer_chart) == [f"layer{layer:02d}" for layer in layers] + ["total"]
    assert layers == [0, 1, 2]  # the tiny GPT-2's three blocks
    nulls = [row for row in branching if row["source"] != "data"]
    assert [row[:3] for row in tables["nulls"][1:]] == [
        [row["source"], f"{row['gain']:g}", "total" if row["layer"] == TOTAL_LAYER else str(row["layer"])]
        for row in nulls]
    assert nulls and {row["gain"] for row in nulls} == {gstar["reference_gain"]}

    (figure,) = [html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', page.text)]
    assert figure.startswith(f"/runs/{pipeline['runs']['S05'].name}/files/figs/") and figure.endswith(".png")
    image = client.get(figure)
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] > 100


def test_a_sweep_shows_the_gains_that_landed_and_its_resumption_arrives_live(pipeline, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(pipeline["partial"], root)
    (sweep,) = root.glob("RUN_S02_*")
    landed = []
    for index in range(pipeline["kept"]):
        with h5py.File(sweep / "data" / f"rasters_gain{index:02d}.h5") as h5:
            landed.append(float(h5.attrs["b_tot_mr"]))

    with live_monitor(root) as base:
        with urllib.request.urlopen(f"{base}{pipeline['href']}/live") as response:
            before = html_tables(response.read().decode())
        with EventReader(base, "/events") as reader:
            assert reader.next(10).kind == "retry"
            assert cli.main(_phase("phase2", pipeline["config"], root, "--allow_resume")) == 0
            event = reader.next_run(120, stage="S02", status="complete")  # generous, however loaded the machine is
            assert event.data["study"] == "avalanche_llm" and event.data["study_href"] == pipeline["href"]
            with urllib.request.urlopen(f"{base}{event.data['study_href']}/live") as response:
                after_page = response.read().decode()

    rows = before["gains"][1:]
    assert [row[1] for row in rows] == ["landed"] * pipeline["kept"] + ["pending"] * (len(GAINS) - pipeline["kept"])
    assert [row[2] for row in rows[:pipeline["kept"]]] == [shown_number(value) for value in landed]
    assert {row[2] for row in rows[pipeline["kept"]:]} == {"-"}
    assert [row[2] for row in before["stages"][1:]] == ["complete", "dead"]  # the killed sweep

    after = html_tables(after_page)
    assert [row[1] for row in after["gains"][1:]] == ["landed"] * len(GAINS)
    # what landed gain by gain is what the finished sweep's table says, and the finished run is the uninterrupted one's
    assert [row[2] for row in after["gains"][1:pipeline["kept"] + 1]] == [shown_number(value) for value in landed]
    assert after["gains"] == html_tables(client_of(pipeline["complete"]).get(f"{pipeline['href']}/live").text)["gains"]
    gstar = json.loads((sweep / "results" / "gstar.json").read_text())
    assert gstar["message"] in html.unescape(after_page)


@pytest.mark.browser
def test_in_a_browser_the_page_follows_the_sweep_to_g_star_and_the_layer_curves(pipeline, tmp_path, browser):
    root = tmp_path / "runs"
    shutil.copytree(pipeline["partial"], root)
    with live_monitor(root) as base:
        browser.driver.get(f"{base}{pipeline['href']}")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        browser.driver.execute_script("window.openedOnce = true")  # gone if the page reloads
        kept = pipeline["kept"]
        assert browser.texts("#gains tbody td:nth-child(2)") == ["landed"] * kept + ["pending"] * (len(GAINS) - kept)
        assert "g* is chosen once every gain has landed" in browser.text("#gstar")
        browser.shot("sweep-killed")

        assert cli.main(_phase("phase2", pipeline["config"], root, "--allow_resume")) == 0
        gstar = json.loads(next(root.glob("RUN_S02_*/results/gstar.json")).read_text())
        chosen = f"{gstar_heading(gstar)} "
        browser.wait(lambda: (browser.text("#gstar") or "").startswith(chosen), "g* did not arrive")
        assert browser.texts("#gains tbody td:nth-child(2)") == ["landed"] * len(GAINS)
        if gstar["gstar"] is not None:
            assert browser.texts(f'#sweep-chart .mark[data-mark="{gstar_heading(gstar)}"]')
        browser.shot("sweep-complete")

        assert [cli.main(_phase(phase, pipeline["config"], root)) for phase in PHASES[2:]] == [0, 0, 0]
        browser.wait(lambda: browser.texts("#layer-chart [data-series='total'] circle"),
                     "the per-layer curves did not arrive")
        width = browser.wait(lambda: browser.driver.execute_script(
            "const image = document.querySelector('figure img');"
            "return image && image.complete && image.naturalWidth;"),
            "the S05 figure did not arrive and decode")
        assert width > 100
        assert browser.driver.execute_script("return window.openedOnce") is True
        browser.shot("pipeline-complete")
