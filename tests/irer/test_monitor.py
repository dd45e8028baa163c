"""The irer hunt page of ``runlab monitor`` over a real small hunt: every generation with its fitness, the
top candidates, the best candidate's grids as PNG heatmaps (downsampled for a 1024×1024 grid), a new
generation arriving as a server-sent event of its hunt, and a heatmap route that serves nothing but 2-D
datasets of a run's indexed HDF5 artifacts."""

from __future__ import annotations

import html
import io
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from irer.artifacts import candidate_hdf5_bytes
from irer.ledger import generation_summary, read_ledger, top_candidates
from runlab.formats import hdf5_bytes
from runlab.monitor import create_app
from runlab.monitor.heatmap import block_mean, grid_png
from runlab.record import read_record, utc_now, write_record
from runlab.store import RunStore
from tests.support.hunt import submit, two_generation_hunt
from runlab.testing import EventReader, finish, live_monitor, start_run
from tests.support.monitor import html_tables, run_table, shown_number


@pytest.fixture(scope="module")
def hunt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Generations 0 and 1 of a 3-generation hunt (generation 2 is left for the live test)."""
    return two_generation_hunt(tmp_path_factory.mktemp("hunt"))


def client_of(root: Path) -> TestClient:
    return TestClient(create_app(root), base_url="http://127.0.0.1")


def _png(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def test_irer_runs_link_to_their_hunt_page(hunt):
    client = client_of(hunt["root"])
    table = client.get("/").text
    assert run_table(table)[hunt["runs"]["GEN000"]]["study"] == "irer"  # the cell's text is unchanged
    for run_id in hunt["runs"].values():
        assert f'<tr id="run-{run_id}"' in table
        assert re.search(rf'<tr id="run-{run_id}"[^>]*>\s*<td><a href="{hunt["href"]}"', table)
        assert f'<a href="{hunt["href"]}" id="study-page">' in client.get(f"/runs/{run_id}").text
    hunts = client.get("/studies/irer/")
    assert hunts.status_code == 200 and hunt["href"] in hunts.text


def test_hunt_page_shows_every_generation_the_top_candidates_and_the_best_grids(hunt):
    root, runs = hunt["root"], hunt["runs"]
    ledger = read_ledger((root / runs["GEN001"] / "results" / "ledger.parquet").read_bytes())
    client = client_of(root)

    page = client.get(hunt["href"])

    assert page.status_code == 200
    tables = html_tables(page.text)
    header, *rows = tables["generations"]
    assert header[:3] == ["generation", "run", "status"]
    expected = generation_summary(ledger).to_pylist()
    assert [row[:3] for row in rows] == [[str(g), runs[f"GEN{g:03d}"], "complete"] for g in (0, 1)]
    for row, summary in zip(rows, expected):
        assert row[3:] == [str(summary["n_candidates"]), str(summary["n_finite"]),
                           shown_number(summary["best_fitness"]), shown_number(summary["median_fitness"]),
                           shown_number(summary["best_fitness_so_far"]), str(summary["best_candidate"])]
    assert page.text.count("<circle ") == 3 * len(expected)  # best, median, best so far per generation

    header, *top = tables["top-candidates"]
    best3 = top_candidates(ledger, 3).to_pylist()
    assert len(top) == 3 and header[:5] == ["rank", "generation", "candidate", "fitness (mean of fields)",
                                            "sd over fields"]
    assert [row[1:5] for row in top] == [[str(r["generation"]), str(r["candidate"]), shown_number(r["fitness"]),
                                          shown_number(r["fitness_sd"])] for r in best3]
    assert [row[-1] for row in top] == [r["artifacts"][0] for r in best3]

    images = [html.unescape(src) for src in re.findall(r'<img src="(/runs/[^"]+)"', page.text)]
    assert len(images) == 2
    assert re.findall(r'<img src="(/colorbar/[^"]+)"', page.text) == ["/colorbar/magma.png", "/colorbar/viridis.png"]
    assert page.text.count('class="colorbar-units"') == 2
    assert "|ψ|² in model units (cubic saturation coefficient 1)" in page.text and "g_tt, dimensionless" in page.text
    for src, dataset in zip(images, ("final_rho", "final_g_tt")):
        assert src.startswith(f"/runs/{best3[0]['run_id']}/heatmap.png?") and f"dataset={dataset}" in src
        response = client.get(src)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert _png(response.content).size == (16, 16)
        assert response.content == client.get(src).content  # the same bytes every time


def test_the_live_part_of_the_page_is_served_alone(hunt):
    client = client_of(hunt["root"])
    live = client.get(f"{hunt['href']}/live")
    assert live.status_code == 200 and live.headers["cache-control"] == "no-store"
    assert "<html" not in live.text and 'id="generations"' in live.text
    page = client.get(hunt["href"]).text
    assert f'id="study-live" data-fragment="{hunt["href"]}/live" data-study-href="{hunt["href"]}"' in page
    assert client.get("/studies/irer/hunts/0123456789ab").status_code == 404
    assert client.get("/studies/irer/hunts/..%2F..%2Fetc").status_code == 404


def test_a_generation_still_running_is_a_row_without_fitness(hunt, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(hunt["root"], root, symlinks=True)
    config = root / hunt["runs"]["GEN001"] / "config_study.yaml"
    running = start_run(RunStore(root), "GEN002", config, study="irer")  # the next generation, started, not done
    assert (read_record(root / running.run_id)["study_config_hash"]
            == read_record(root / hunt["runs"]["GEN001"])["study_config_hash"])
    client = client_of(root)
    for path in (hunt["href"], f"{hunt['href']}/live"):
        response = client.get(path)
        assert response.status_code == 200
        rows = html_tables(response.text)["generations"][1:]
        assert [row[:3] for row in rows] == [["0", hunt["runs"]["GEN000"], "complete"],
                                             ["1", hunt["runs"]["GEN001"], "complete"],
                                             ["2", running.run_id, "running"]]
        assert rows[2][3:] == ["-"] * 6


def test_a_failed_report_says_so_on_the_hunt_page(hunt, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(hunt["root"], root, symlinks=True)
    config = root / hunt["runs"]["GEN001"] / "config_study.yaml"
    report = start_run(RunStore(root), "REPORT", config, study="irer")
    report.set_verdict(False, "no candidate of the hunt has a finite fitness")
    finish(report)
    page = client_of(root).get(hunt["href"]).text
    line = page.split('<p id="report">')[1].split("</p>")[0]
    assert report.run_id in line and '<span class="verdict fail">FAIL</span>' in line
    assert line.endswith("no candidate of the hunt has a finite fitness")


def test_a_generation_landing_after_the_page_opened_arrives_as_an_event_of_its_hunt(hunt, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(hunt["root"], root, symlinks=True)
    with live_monitor(root) as base:
        with urllib.request.urlopen(f"{base}{hunt['href']}") as response:
            assert 'id="generation-2"' not in response.read().decode()
        with EventReader(base, "/events") as reader:
            assert reader.next(10).kind == "retry"
            submit(hunt["config"], root, "GEN002")
            event = reader.next_run(120, stage="GEN002", status="complete")  # generous, however loaded the machine is
            assert event.data["study"] == "irer" and event.data["study_href"] == hunt["href"]
            with urllib.request.urlopen(f"{base}{event.data['study_href']}/live") as response:
                live = response.read().decode()
    rows = html_tables(live)["generations"][1:]
    assert [row[:3] for row in rows][-1] == ["2", event.data["run_id"], "complete"]


def _grid_run(store: RunStore, n: int = 1024) -> tuple[str, np.ndarray]:
    """A complete run holding one candidate artifact on an ``n``×``n`` grid (left half 0, right half 1 in
    ``final_g_tt``), a 1-D and a 3-D dataset in another HDF5 artifact, and a CSV."""
    run = start_run(store, "GEN000", {"grid": n}, study="irer")
    psi = np.exp(1j * np.linspace(0, 6, n * n).reshape(n, n)).astype(np.complex64) * np.linspace(0, 1, n)[:, None]
    g_tt = np.zeros((n, n), dtype=np.float32)
    g_tt[:, n // 2:] = 1.0
    run.write_bytes("data/candidates/g0000_c0000.h5", candidate_hdf5_bytes(
        final_psi=psi, final_g_tt=g_tt, params={"kappa": 0.1}, dx=1.0, alpha=0.5, rho_vac=1.0, tau_s=1.0, seed=1,
        generation=0, candidate=0, config_hash="ab" * 32, code_version="test",
        snapshots_rho=np.ones((2, n, n), dtype=np.float32)))
    run.write_bytes("data/other.h5", hdf5_bytes({"line": np.arange(5.0), "tiny": np.ones((1, 4))}))
    run.write_table("scores", {"a": [1, 2]})
    finish(run)
    return run.run_id, g_tt


def test_a_1024_grid_renders_downsampled_with_its_colours(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id, g_tt = _grid_run(store)
    client = client_of(store.root)
    url = f"/runs/{run_id}/heatmap.png?file=data/candidates/g0000_c0000.h5&dataset=final_g_tt&cmap=viridis"

    response = client.get(url)

    assert response.status_code == 200 and response.headers["x-grid-shape"] == "1024x1024"
    image = _png(response.content)
    assert image.size == (512, 512)
    rgb = np.asarray(image.convert("RGB"))
    assert (rgb[:, :256] == rgb[0, 0]).all() and (rgb[:, 256:] == rgb[0, 511]).all()
    assert tuple(rgb[0, 0]) != tuple(rgb[0, 511])
    assert response.content == grid_png(g_tt, colormap="viridis").png  # the route renders what the function does
    small = client.get(url + "&max_px=100")
    assert _png(small.content).size == (94, 94)  # blocks of ceil(1024 / 100) = 11: ceil(1024 / 11) = 94
    rho = client.get(url.replace("final_g_tt", "final_rho") + "&cmap=magma")
    assert rho.status_code == 200 and _png(rho.content).size == (512, 512)


def test_block_mean_is_the_mean_of_each_block_and_skips_non_finite_cells():
    grid = np.arange(36, dtype=np.float64).reshape(6, 6)
    assert np.array_equal(block_mean(grid, 3), grid.reshape(3, 2, 3, 2).mean(axis=(1, 3)))
    assert block_mean(grid, 6) is not grid and np.array_equal(block_mean(grid, 6), grid)
    ragged = block_mean(np.ones((5, 7)), 3)  # blocks of 3: the edge blocks average the cells they have
    assert ragged.shape == (2, 3) and np.all(ragged == 1.0)
    holes = grid.copy()
    holes[0, 0] = np.nan
    holes[4:6, 4:6] = np.inf
    reduced = block_mean(holes, 3)
    assert reduced[0, 0] == np.mean([1, 6, 7]) and np.isnan(reduced[2, 2])
    picture = _png(grid_png(holes, max_px=3).png)
    assert picture.size == (3, 3) and picture.convert("RGB").getpixel((2, 0)) == (128, 128, 128)  # row 0 at the bottom


@pytest.mark.parametrize("query, status", [
    ("file=../../secret.h5&dataset=final_rho", 404),
    ("file=data/../../secret.h5&dataset=final_rho", 404),
    ("file=%2e%2e/%2e%2e/secret.h5&dataset=final_rho", 404),
    ("file=/etc/secret.h5&dataset=final_rho", 404),
    ("file=data/unindexed.h5&dataset=final_rho", 404),
    ("file=data/linked.h5&dataset=final_rho", 404),
    ("file=tables/scores.csv&dataset=final_rho", 404),
    ("file=data/candidates/g0000_c0000.h5&dataset=snapshots_rho", 404),  # 3-D
    ("file=data/candidates/g0000_c0000.h5&dataset=absent", 404),
    ("file=data/candidates/g0000_c0000.h5&dataset=/final_rho", 404),
    ("file=data/other.h5&dataset=line", 404),  # 1-D
    ("file=data/other.h5&dataset=tiny", 404),  # 1 x 4
    ("file=data/candidates/g0000_c0000.h5", 404),
    ("file=data/candidates/g0000_c0000.h5&dataset=final_rho&cmap=jet%3Cscript%3E", 400),
    ("file=data/candidates/g0000_c0000.h5&dataset=final_rho&max_px=100000", 400),
    ("file=data/candidates/g0000_c0000.h5&dataset=final_rho&max_px=ten", 400),
])
def test_the_heatmap_route_serves_only_grids_of_indexed_hdf5_artifacts(tmp_path, query, status):
    store = RunStore(tmp_path / "runs")
    run_id, _ = _grid_run(store, n=32)
    run_dir = store.root / run_id
    secret = hdf5_bytes({"final_rho": np.ones((4, 4))})
    (tmp_path / "secret.h5").write_bytes(secret)
    (run_dir / "data" / "unindexed.h5").write_bytes(secret)
    (run_dir / "data" / "linked.h5").symlink_to(tmp_path / "secret.h5")
    record = read_record(run_dir)
    record["artifact_index"].append({"relative_path": "data/linked.h5", "sha256": "0" * 64, "bytes": len(secret),
                                     "created_utc": utc_now()})
    write_record(run_dir, record)
    client = client_of(store.root)
    assert client.get(f"/runs/{run_id}/heatmap.png?file=data/candidates/g0000_c0000.h5&dataset=final_rho").status_code == 200

    response = client.get(f"/runs/{run_id}/heatmap.png?{query}")

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html") and b"\x89PNG" not in response.content
    assert client.get(f"/runs/RUN_GEN000_{'0' * 12}/heatmap.png?file=x.h5&dataset=final_rho").status_code == 404
    assert client.post(f"/runs/{run_id}/heatmap.png?file=data/candidates/g0000_c0000.h5&dataset=final_rho").status_code == 405

