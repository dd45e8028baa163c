"""The candidate HDF5 contract: deterministic bytes, a faithful round trip, one-line SchemaErrors."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import pytest

from irer.artifacts import (
    G_TT,
    PSI_IM,
    PSI_RE,
    RHO,
    SNAPSHOTS_RHO,
    candidate_hdf5_bytes,
    params_json,
    read_candidate,
)
from runlab.errors import ExitCode, SchemaError
from runlab.formats import hdf5_bytes

N = 8


def _inputs(dtype: type = np.complex128, **overrides: Any) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    psi = (rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))).astype(dtype)
    rho = np.abs(psi) ** 2
    values: dict[str, Any] = {
        "final_psi": psi,
        "final_g_tt": -(1.0 / np.maximum(rho, 1e-9)) ** 0.5,
        "params": {"sigma_k": 0.3, "kappa": 0.02, "alpha": 0.5, "rho_vac": 1.0},
        "dx": 0.5,
        "alpha": 0.5,
        "rho_vac": 1.0,
        "tau_s": 2.0,
        "seed": 11,
        "generation": 3,
        "candidate": 4,
        "config_hash": "0123abcdef",
        "code_version": "irer-test",
    }
    values.update(overrides)
    return values


def _raw(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The datasets and attributes of an artifact, read with plain h5py, to rewrite them broken."""
    import io

    with h5py.File(io.BytesIO(blob), "r") as h5:
        arrays = {key: h5[key][()] for key in h5}
        attrs = {key: h5.attrs[key] for key in h5.attrs}
    attrs = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in attrs.items()}
    return arrays, attrs


def test_same_inputs_give_the_same_bytes_whatever_the_params_key_order():
    first = candidate_hdf5_bytes(**_inputs())
    reordered = _inputs()
    reordered["params"] = dict(reversed(list(reordered["params"].items())))
    assert first == candidate_hdf5_bytes(**_inputs())
    assert first == candidate_hdf5_bytes(**reordered)
    assert first != candidate_hdf5_bytes(**_inputs(candidate=5))


def test_round_trip_from_bytes_and_from_a_path(tmp_path):
    inputs = _inputs()
    snapshots = np.stack([np.abs(inputs["final_psi"]) ** 2] * 3)
    blob = candidate_hdf5_bytes(**inputs, snapshots_rho=snapshots)
    path = tmp_path / "candidate.h5"
    path.write_bytes(blob)
    for source in (blob, path, str(path)):
        got = read_candidate(source)
        assert np.array_equal(got.final_psi, inputs["final_psi"])
        assert np.array_equal(got.final_rho, inputs["final_psi"].real ** 2 + inputs["final_psi"].imag ** 2)
        assert np.array_equal(got.final_g_tt, inputs["final_g_tt"])
        assert np.array_equal(got.snapshots_rho, snapshots)
        assert got.params == inputs["params"]
        assert (got.dx, got.alpha, got.rho_vac, got.tau_s) == (0.5, 0.5, 1.0, 2.0)
        assert (got.seed, got.generation, got.candidate) == (11, 3, 4)
        assert (got.config_hash, got.code_version, got.schema_version, got.n, got.field) == (
            "0123abcdef", "irer-test", 2, N, 0)
    arrays, attrs = _raw(blob)
    assert list(arrays) == [PSI_RE, PSI_IM, RHO, G_TT, SNAPSHOTS_RHO]
    assert attrs["params_json"] == params_json(inputs["params"]) == '{"alpha":0.5,"kappa":0.02,"rho_vac":1.0,"sigma_k":0.3}'


def test_complex64_fields_are_stored_as_float32_parts_and_read_back_as_float64():
    blob = candidate_hdf5_bytes(**_inputs(dtype=np.complex64))
    arrays, _ = _raw(blob)
    assert {arrays[key].dtype for key in (PSI_RE, PSI_IM, RHO)} == {np.dtype(np.float32)}
    got = read_candidate(blob)
    assert got.final_psi.dtype == np.complex128 and got.final_rho.dtype == np.float64
    assert got.snapshots_rho is None


def test_writer_refuses_what_the_worker_should_never_produce():
    with pytest.raises(ValueError, match="complex"):
        candidate_hdf5_bytes(**_inputs(final_psi=np.ones((N, N))))
    with pytest.raises(ValueError, match="final_g_tt"):
        candidate_hdf5_bytes(**_inputs(final_g_tt=np.ones((N, N + 1))))
    with pytest.raises(ValueError, match="snapshots_rho"):
        candidate_hdf5_bytes(**_inputs(), snapshots_rho=np.ones((N, N)))
    with pytest.raises(ValueError, match="disagrees"):
        candidate_hdf5_bytes(**_inputs(alpha=0.7))
    with pytest.raises(ValueError, match="hex"):
        candidate_hdf5_bytes(**_inputs(config_hash="not-hex"))
    with pytest.raises(TypeError):
        candidate_hdf5_bytes(**_inputs(seed=1.5))


def _drop_dataset(arrays, attrs):
    del arrays[G_TT]


def _drop_attr(attrs_key):
    def edit(arrays, attrs):
        del attrs[attrs_key]

    return edit


def _set_attr(key, value):
    def edit(arrays, attrs):
        attrs[key] = value

    return edit


def _set_array(key, value):
    def edit(arrays, attrs):
        arrays[key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_drop_dataset, "dataset(s) ['final_g_tt'] missing"),
        (_drop_attr("rho_vac"), "attribute(s) ['rho_vac'] missing"),
        (_set_attr("schema_version", 1), "schema_version 1"),
        (_set_attr("schema_version", "1"), "schema_version '1'"),
        (_set_attr("seed", "11"), "'seed' is not an integer"),
        (_set_attr("dx", "0.5"), "'dx' is not a number"),
        (_set_attr("dx", -1.0), "dx=-1.0 must be a finite number > 0"),
        (_set_attr("seed", -3), "seed=-3 must be a non-negative integer"),
        (_set_attr("params_json", "{oops"), "params_json is not JSON"),
        (_set_attr("params_json", "[1, 2]"), "params_json is not a JSON object"),
        (_set_attr("params_json", '{"alpha": 0.9}'), "disagrees with attribute(s) ['alpha']"),
        (_set_attr("config_hash", "XYZ"), "config_hash='XYZ' must be lowercase hex"),
        (_set_array(G_TT, np.ones((N, N - 1))), "final_g_tt has shape (8, 7), expected (8, 8)"),
        (_set_array(RHO, np.ones(N)), "final_rho has shape (8,)"),
        (_set_array(RHO, np.ones((N, N))), "final_rho is not |psi|²"),
        (_set_array(PSI_RE, np.array([["a"] * N] * N, dtype="S1")), "final_psi_re is not a real numeric dataset"),
        (_set_array(SNAPSHOTS_RHO, np.ones((2, N, N - 1))), "snapshots_rho has shape (2, 8, 7)"),
    ],
)
def test_contract_breaches_are_one_line_schema_errors(edit, words):
    arrays, attrs = _raw(candidate_hdf5_bytes(**_inputs()))
    edit(arrays, attrs)
    with pytest.raises(SchemaError) as caught:
        read_candidate(hdf5_bytes(arrays, attrs))
    text = str(caught.value)
    assert words in text
    assert "\n" not in text and caught.value.hint
    assert caught.value.exit_code == ExitCode.SCHEMA


def test_not_hdf5_and_absent_files_are_schema_errors(tmp_path):
    with pytest.raises(SchemaError, match="not a readable HDF5 file"):
        read_candidate(b"definitely not hdf5")
    with pytest.raises(SchemaError, match="not a readable HDF5 file") as caught:
        read_candidate(tmp_path / "absent.h5")
    assert "\n" not in str(caught.value)


def test_non_finite_values_are_read_not_refused():
    psi = _inputs()["final_psi"].copy()
    psi[0, 0] = np.nan
    got = read_candidate(candidate_hdf5_bytes(**_inputs(final_psi=psi)))
    assert np.isnan(got.final_rho[0, 0]) and np.isfinite(got.final_rho[1:, :]).all()
