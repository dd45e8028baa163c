"""The heatmap route reads no byte from outside its HDF5 file and bounded memory: an indexed artifact that
reaches data elsewhere on the machine (an external link, external storage, a virtual dataset, a soft
link) is a 404 that says so; a grid is read tile by tile of whole chunks into the same picture as the
whole grid gives; chunks or grids above the stated limits are a 404 that says so. Every HDF5 file is
written here with h5py and indexed by a real run."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from runlab.monitor import create_app
from runlab.monitor.heatmap import MAX_CHUNK_CELLS, MAX_GRID_CELLS, TILE_CELLS, _tile_shape, block_mean, grid_png
from runlab.store import RunStore

from runlab.testing import finish, start_run

SECRET = np.full((4, 4), 7.0)  # the data outside the runs root
OUTSIDE = "the monitor reads nothing outside the runs root"


def _h5(path: Path, fill) -> bytes:
    """The bytes of an HDF5 file that ``fill(h5)`` writes."""
    with h5py.File(path, "w") as h5:
        fill(h5)
    return path.read_bytes()


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A run whose indexed HDF5 artifacts each reach ``SECRET`` outside the runs root another way."""
    base = tmp_path_factory.mktemp("planted")
    outside = base / "outside"
    outside.mkdir()
    secret_h5 = outside / "secret.h5"
    _h5(secret_h5, lambda h5: h5.create_dataset("secret", data=SECRET))
    secret_raw = outside / "secret.raw"
    secret_raw.write_bytes(SECRET.tobytes())
    scratch = base / "scratch"
    scratch.mkdir()

    def virtual(h5: h5py.File) -> None:
        layout = h5py.VirtualLayout(shape=SECRET.shape, dtype="f8")
        layout[:] = h5py.VirtualSource(str(secret_h5), "secret", shape=SECRET.shape)
        h5.create_virtual_dataset("grid", layout)

    def group_link(h5: h5py.File) -> None:
        h5["fields"] = h5py.ExternalLink(str(secret_h5), "/")

    def soft(h5: h5py.File) -> None:
        h5["ext"] = h5py.ExternalLink(str(secret_h5), "/secret")
        h5["grid"] = h5py.SoftLink("/ext")

    files = {
        "external_link": lambda h5: h5.__setitem__("grid", h5py.ExternalLink(str(secret_h5), "/secret")),
        "external_storage": lambda h5: h5.create_dataset("grid", shape=SECRET.shape, dtype="<f8",
                                                         external=[(str(secret_raw), 0, SECRET.nbytes)]),
        "virtual": virtual,
        "group_link": group_link,
        "soft_link": soft,
    }
    store = RunStore(base / "runs")
    run = start_run(store, "S01", {"planted": 1})
    datasets = {"group_link": "fields/secret"}
    for name, fill in files.items():
        run.write_bytes(f"data/{name}.h5", _h5(scratch / f"{name}.h5", fill))
    finish(run)
    return {"root": store.root, "run_id": run.run_id, "secret_h5": secret_h5, "secret_raw": secret_raw,
            "datasets": datasets}


def _client(root: Path) -> TestClient:
    return TestClient(create_app(root), base_url="http://127.0.0.1")


def _heatmap(client: TestClient, run_id: str, artifact: str, dataset: str, **query: object):
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return client.get(f"/runs/{run_id}/heatmap.png?file={artifact}&dataset={dataset}{extra}")


def test_each_planted_file_really_reaches_the_data_outside(planted):
    run_dir = planted["root"] / planted["run_id"]
    for name in ("external_link", "external_storage", "virtual", "group_link", "soft_link"):
        with h5py.File(run_dir / "data" / f"{name}.h5", "r") as h5:  # what h5py does when asked naively
            assert np.array_equal(h5[planted["datasets"].get(name, "grid")][()], SECRET), name


def test_no_heatmap_reads_outside_its_file(planted):
    client = _client(planted["root"])
    secret_h5, secret_raw = planted["secret_h5"], planted["secret_raw"]
    expected = {
        "external_link": f"dataset 'grid' of external_link.h5 is not read: 'grid' is an external link to "
                         f"{secret_h5}:/secret; {OUTSIDE}",
        "external_storage": f"dataset 'grid' of external_storage.h5 is not read: its data is stored externally in "
                            f"'{secret_raw}'; {OUTSIDE}",
        "virtual": "dataset 'grid' of virtual.h5 is not read: it is a virtual dataset (its data lives in other "
                   f"files); {OUTSIDE}",
        "group_link": f"dataset 'fields/secret' of group_link.h5 is not read: 'fields' is an external link to "
                      f"{secret_h5}:/; {OUTSIDE}",
        "soft_link": "dataset 'grid' of soft_link.h5 is not read: 'grid' is a SoftLink (links are not followed)",
    }
    for name, reason in expected.items():
        response = _heatmap(client, planted["run_id"], f"data/{name}.h5", planted["datasets"].get(name, "grid"))
        assert response.status_code == 404, name
        assert response.headers["content-type"].startswith("text/html") and b"\x89PNG" not in response.content
        assert reason.replace("'", "&#39;") in response.text, name


def _grid_run(root: Path, arrays: dict[str, dict]) -> str:
    """A complete run with ``data/grids.h5`` holding one dataset per entry (``create_dataset`` keywords)."""
    store = RunStore(root)
    run = start_run(store, "S01", {"grids": sorted(arrays)})
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for name, keywords in arrays.items():
            h5.create_dataset(name, **keywords)
    run.write_bytes("data/grids.h5", buffer.getvalue())
    finish(run)
    return run.run_id


def test_a_grid_read_tile_by_tile_is_the_picture_of_the_whole_grid(tmp_path):
    rng = np.random.default_rng(3)
    whole = rng.integers(-50, 50, size=(1100, 1000)).astype(np.float32)  # integers: every sum is exact
    whole[rng.random(whole.shape) < 0.01] = np.nan
    run_id = _grid_run(tmp_path / "runs", {
        "contiguous": {"data": whole},  # 1.1 M cells: more than one tile
        "chunked": {"data": whole, "chunks": (64, 48), "compression": "gzip"},
        "integers": {"data": np.nan_to_num(whole).astype(np.int16), "chunks": (100, 1000), "compression": "lzf"},
    })
    assert _tile_shape(whole.shape, None) == (1048, 1000) and 1048 * 1000 <= TILE_CELLS
    assert _tile_shape(whole.shape, (64, 48)) == (1024, 1000)  # whole chunks: 16 rows of them
    client = _client(tmp_path / "runs")
    for dataset, grid in (("contiguous", whole), ("chunked", whole), ("integers", np.nan_to_num(whole))):
        for max_px in (100, 512, 2048):  # blocks of 11 (straddling tiles and chunks), of 3, and none
            response = _heatmap(client, run_id, "data/grids.h5", dataset, max_px=max_px, cmap="magma")
            assert response.status_code == 200, (dataset, max_px)
            assert response.headers["x-grid-shape"] == "1100x1000"
            assert response.content == grid_png(grid, max_px=max_px, colormap="magma").png, (dataset, max_px)
    image = Image.open(io.BytesIO(_heatmap(client, run_id, "data/grids.h5", "chunked", max_px=100).content))
    assert image.size == block_mean(whole, 100).shape[::-1] == (91, 100)


def test_a_large_compressed_grid_of_fill_values_renders(tmp_path):
    run_id = _grid_run(tmp_path / "runs", {"empty": {"shape": (4000, 3000), "dtype": "f8", "compression": "gzip",
                                                     "fillvalue": 2.5}})
    assert (tmp_path / "runs" / run_id / "data" / "grids.h5").stat().st_size < 10_000  # nothing but metadata
    response = _heatmap(_client(tmp_path / "runs"), run_id, "data/grids.h5", "empty")
    assert response.status_code == 200 and response.headers["x-grid-shape"] == "4000x3000"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (375, 500) and len(np.unique(np.asarray(image))) == 1  # blocks of 8, one value: one colour


def test_chunks_and_grids_above_the_limits_are_refused_with_the_reason(tmp_path):
    side = int(MAX_CHUNK_CELLS ** 0.5) * 2
    run_id = _grid_run(tmp_path / "runs", {
        "big_chunks": {"shape": (side, side), "dtype": "f4", "chunks": (side, side), "compression": "gzip"},
        "too_many": {"shape": (16385, 16385), "dtype": "u1", "chunks": (256, 256), "compression": "gzip"},
    })
    client = _client(tmp_path / "runs")
    response = _heatmap(client, run_id, "data/grids.h5", "big_chunks")
    assert response.status_code == 404
    assert (f"dataset &#39;big_chunks&#39; of grids.h5 is stored in chunks of {side}x{side} cells, above the "
            f"monitor&#39;s limit of {MAX_CHUNK_CELLS:,} (2048x2048): HDF5 decompresses a whole chunk to read any "
            "cell") in response.text
    response = _heatmap(client, run_id, "data/grids.h5", "too_many")
    assert response.status_code == 404
    assert (f"dataset &#39;too_many&#39; of grids.h5 has 16385x16385 cells, above the monitor&#39;s limit of "
            f"{MAX_GRID_CELLS:,} (16384x16384)") in response.text
