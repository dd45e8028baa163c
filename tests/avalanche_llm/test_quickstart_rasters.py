"""The branching estimator, g* and the nulls on the real quickstart rasters: phases 1 to 4 of
``configs/avalanche_llm/quickstart.yaml`` (the packaged all-MiniLM-L6-v2, 96 windows of 64 tokens, gains
0.5 to 2) run through the CLI once, and what issue 17 found there is checked on their artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

from avalanche_llm import cli
from avalanche_llm.analysis.gstar import select_gstar
from avalanche_llm.config import load_study_config
from avalanche_llm.io.gain_files import gain_raster_name, layer_key
from avalanche_llm.metrics.branching import FIT_CHECKS, branching_estimates
from avalanche_llm.raster.build import Raster, total_activity
from avalanche_llm.run_id import phase_run_id

from tests.support.cli import REPO

QUICKSTART = REPO / "configs" / "avalanche_llm" / "quickstart.yaml"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("quickstart") / "runs"
    for phase in ("phase1", "phase2", "phase3", "phase4"):
        assert cli.main([phase, "--config", str(QUICKSTART), "--device", "cpu", "--dtype", "fp32",
                         "--runs_root", str(root)]) == 0
    config = load_study_config(QUICKSTART, {"device": "cpu", "dtype": "fp32"})
    return {tag: root / phase_run_id(config, phase) for tag, phase in
            (("S02", "phase2"), ("S03", "phase3"), ("S04", "phase4"))}


def _statuses_are_known(statuses: list[str]) -> bool:
    return all(status in ("ok", "no_estimate") or set(status.split(";")) <= set(FIT_CHECKS) for status in statuses)


def test_window_rates_differ_and_the_fit_takes_them_up_in_its_offset(quickstart: dict[str, Path]) -> None:
    """The regime of issue 17: window means of A_tot spread far beyond Poisson noise, and every gain's fit
    puts a positive offset c on the r_k, where the fit without it read that spread as m near 1."""
    sweep = pq.read_table(quickstart["S02"] / "results/gain_sweep.parquet").to_pylist()
    arrays = _gain_arrays(quickstart["S02"], 2)
    activity = total_activity(arrays)
    windows = activity.reshape(96, 64)
    assert windows.mean(axis=1).std() > 2 * np.sqrt(activity.mean() / 64)
    assert all(row["b_tot_mr_c"] > 0 for row in sweep)
    assert _statuses_are_known([row["b_tot_fit_status"] for row in sweep])
    assert all(0.001 <= row["b_tot_mr"] <= 1.5 for row in sweep)  # never the unbounded m of the old fit


def test_gstar_is_what_the_fits_support(quickstart: dict[str, Path]) -> None:
    """g* from the sweep's own rows, only gains that pass being candidates; on these rasters no fit passes
    (the total activity is anti-correlated from token to token, b < 0), so there is no g*, and it says so."""
    sweep = pq.read_table(quickstart["S02"] / "results/gain_sweep.parquet").to_pylist()
    gstar = json.loads((quickstart["S02"] / "results/gstar.json").read_text())
    expected = select_gstar([row["gain"] for row in sweep], [row["b_tot_mr"] for row in sweep],
                            [row["b_tot_mr_stderr"] for row in sweep], [row["b_tot_fit_status"] for row in sweep])
    assert gstar == expected.as_json()
    assert all(row["b_tot_mr_b"] < 0 and row["b_tot_conventional"] < 0 for row in sweep)
    assert gstar["outcome"] == "no_valid_gain" and gstar["gstar"] is None
    assert gstar["message"].startswith("no g* in [0.5, 2]: no gain's fit passes its checks")


def test_nulls_of_the_real_rasters_keep_their_marginals_and_bin_order_leaves_no_propagation(
        quickstart: dict[str, Path]) -> None:
    checks = pq.read_table(quickstart["S03"] / "results/null_checks.parquet").to_pylist()
    assert {row["null_model"] for row in checks} == {"bin_order", "bin_unit", "both", "time_shift", "unit_time"}
    branching = pq.read_table(quickstart["S04"] / "results/branching.parquet").to_pylist()
    assert _statuses_are_known([row["fit_status"] for row in branching])
    ordered = [row for row in branching if row["source"] == "null:bin_order"]
    assert ordered and all(row["fit_status"] != "ok" for row in ordered)
    # the estimator of S04 on S02's rasters is the one S02 used: same numbers for A_tot at every gain
    for index, row in enumerate(pq.read_table(quickstart["S02"] / "results/gain_sweep.parquet").to_pylist()):
        rasters = _gain_arrays(quickstart["S02"], index)
        again = branching_estimates(total_activity(rasters), rasters[0].bounds, 8)
        assert (again.m_mr, again.fit_status) == (row["b_tot_mr"], row["b_tot_fit_status"])


def _gain_arrays(sweep: Path, index: int) -> list[Raster]:
    """Every layer's raster of S02 at gain ``index``, read from its HDF5 file."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(sweep / "data" / f"{gain_raster_name(index)}.h5", "r") as h5:
        h5.visititems(lambda name, node: arrays.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None)
        n_layers = int(h5.attrs["n_layers"])
    return [Raster.from_arrays(arrays, layer_key(layer)) for layer in range(n_layers)]
