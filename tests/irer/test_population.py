"""A generation as one vmapped program: same results as one candidate at a time, chunking, devices, keys."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irer.artifacts import candidate_hdf5_bytes
from irer.hunter import PARAMETER_NAMES as HUNTED_NAMES
from irer.hunter import Prior
from irer.model import PARAMETER_NAMES, FieldModel, Grid, TimeStepping, candidate_key, candidate_keys
from irer.population import resolve_device, run_population
from irer.solver import solve_candidate
from irer.validator import fitness, validate_candidate
from runlab.errors import ConfigError

MODEL = FieldModel()
GRID = Grid(n=16)
STEPPING = TimeStepping(dt=0.5, steps=20)


@pytest.fixture(scope="module")
def population() -> tuple[np.ndarray, jax.Array]:
    """Five prior draws and their generation-0 keys."""
    return Prior().sample(np.random.default_rng(11), 5), candidate_keys(hunt_seed=9, generation=0, count=5)


def test_vmapped_generation_equals_candidates_run_one_by_one(population: tuple[np.ndarray, jax.Array]) -> None:
    params, keys = population
    together = run_population(params, keys, MODEL, GRID, STEPPING, device="cpu")
    assert together.psi.shape == (5, 16, 16) and together.finite.shape == (5,) and together.finite.all()
    for i in range(len(params)):
        alone = solve_candidate(keys[i], params[i], MODEL, GRID, STEPPING)
        scale = float(jnp.abs(alone.psi).max())
        np.testing.assert_allclose(together.psi[i], np.asarray(alone.psi), rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(together.rho_s[i], np.asarray(alone.rho_s), rtol=1e-5)
        np.testing.assert_allclose(together.g_tt[i], np.asarray(alone.g_tt), rtol=1e-5)
    np.testing.assert_allclose(together.rho, np.abs(together.psi) ** 2, rtol=1e-6)


def test_padded_chunks_compile_once_and_match_the_unchunked_run(
    population: tuple[np.ndarray, jax.Array], caplog: pytest.LogCaptureFixture
) -> None:
    params, keys = population
    whole = run_population(params, keys, MODEL, GRID, STEPPING, device="cpu")
    stepping = TimeStepping(dt=0.5, steps=21)  # a program no other test compiled
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        chunked = run_population(params, keys, MODEL, GRID, stepping, chunk_size=2, device="cpu")
    compiled = [r for r in caplog.records if "Compiling" in r.getMessage() and "_generation" in r.getMessage()]
    assert len(compiled) == 1, [r.getMessage() for r in compiled]
    again = run_population(params, keys, MODEL, GRID, TimeStepping(dt=0.5, steps=20), chunk_size=2, device="cpu")
    for name in ("psi", "rho", "rho_s", "g_tt", "finite"):
        np.testing.assert_allclose(getattr(again, name), getattr(whole, name), rtol=1e-6, atol=1e-7)
    assert chunked.psi.shape == whole.psi.shape


def test_snapshots_are_the_density_at_equal_intervals_ending_at_the_final_field(
    population: tuple[np.ndarray, jax.Array]
) -> None:
    params, keys = population
    plain = run_population(params, keys, MODEL, GRID, STEPPING, device="cpu")
    assert plain.snapshots_rho is None
    kept = run_population(params, keys, MODEL, GRID, TimeStepping(dt=0.5, steps=20, snapshots=4), chunk_size=2,
                          device="cpu")
    assert kept.snapshots_rho.shape == (5, 4, 16, 16) and kept.snapshots_rho.dtype == plain.rho.dtype
    np.testing.assert_allclose(kept.psi, plain.psi, rtol=0, atol=1e-5 * float(np.abs(plain.psi).max()))
    np.testing.assert_allclose(kept.snapshots_rho[:, -1], plain.rho, rtol=1e-5, atol=1e-7)
    halfway = run_population(params, keys, MODEL, GRID, TimeStepping(dt=0.5, steps=10), device="cpu")
    np.testing.assert_allclose(kept.snapshots_rho[:, 1], halfway.rho, rtol=1e-5, atol=1e-7)  # after 2 × 5 steps
    assert not np.allclose(kept.snapshots_rho[:, 0], kept.snapshots_rho[:, -1])  # the field moves in between


@pytest.mark.parametrize("snapshots", [-1, 3])
def test_snapshots_must_divide_the_steps(snapshots: int) -> None:
    with pytest.raises(ConfigError, match="must be 0 or divide steps=20"):
        TimeStepping(dt=0.5, steps=20, snapshots=snapshots)


def test_cuda_without_a_gpu_is_a_config_error() -> None:
    try:
        has_gpu = bool(jax.devices("gpu"))
    except RuntimeError:
        has_gpu = False
    if has_gpu:
        pytest.skip("a GPU is visible here")
    with pytest.raises(ConfigError, match="no GPU") as caught:
        run_population(np.array([[0.05, 0.5, 0.5]]), candidate_keys(0, 0, 1), MODEL, GRID, STEPPING, device="cuda")
    assert caught.value.exit_code == 2
    assert resolve_device("auto").platform == "cpu"
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_prior_corners_stay_finite_at_the_default_step() -> None:
    prior = Prior()
    assert prior.names == PARAMETER_NAMES == HUNTED_NAMES  # the hunter's columns are the solver's
    corners = np.array(np.meshgrid(*zip(prior.lower, prior.upper), indexing="ij")).reshape(3, -1).T
    keys = candidate_keys(1, 0, len(corners))
    result = run_population(corners, keys, MODEL, Grid(n=32), TimeStepping(dt=0.25, steps=200))
    assert result.finite.all()
    assert np.all(result.g_tt < 0)
    # rho_s >= 0 holds exactly for the ODE; between clumps (rho ~ 1e-12) the float32 spectral
    # representation leaves round-off of about 1e-7 of the maximum on either side of zero
    assert np.all(result.rho_s > -1e-6 * result.rho_s.max(axis=(1, 2), keepdims=True))


def test_candidate_keys_are_the_fold_ins_of_seed_generation_and_index() -> None:
    keys = candidate_keys(hunt_seed=5, generation=3, count=4)
    for index in range(4):
        np.testing.assert_array_equal(jax.random.key_data(keys[index]), jax.random.key_data(candidate_key(5, 3, index)))
    other_generation = jax.random.key_data(candidate_keys(5, 4, 4))
    assert not np.any(np.all(other_generation == jax.random.key_data(keys), axis=1))
    with pytest.raises(ConfigError):
        candidate_key(-1, 0, 0)


def test_parameters_are_checked_before_any_solve() -> None:
    with pytest.raises(ConfigError, match="unusable"):
        run_population(np.array([[0.01, 0.0, 0.2]]), candidate_keys(0, 0, 1), MODEL, GRID, STEPPING)
    with pytest.raises(ConfigError, match="keys"):
        run_population(np.array([[0.01, 0.5, 0.2]]), candidate_keys(0, 0, 2), MODEL, GRID, STEPPING)


def test_prior_draws_form_patterns_the_validator_scores() -> None:
    """The hunt is not a random search: most prior draws give a spectrum with >= 2 peaks and a finite SSE.

    Eight prior draws at the hunt's time stepping on a 64x64 grid, scored by the validator from their
    HDF5 artifacts (spec/irer/equations.md, "What the evolved parameters do").
    """
    params = Prior().sample(np.random.default_rng(1), 8)
    keys = candidate_keys(hunt_seed=1, generation=0, count=8)
    result = run_population(params, keys, MODEL, Grid(n=64), TimeStepping(), device="cpu")
    assert result.finite.all()
    # clumps gather density above eps (which bounds only the uniform state), but it stays of that order
    assert MODEL.epsilon < result.rho.max() < 2 * MODEL.epsilon  # spec/irer/equations.md, "Stability"
    reports = []
    for index, (kappa, sigma_k, alpha) in enumerate(params):
        artifact = candidate_hdf5_bytes(
            final_psi=result.psi[index], final_g_tt=result.g_tt[index],
            params={"kappa": float(kappa), "sigma_k": float(sigma_k), "alpha": float(alpha)},
            dx=1.0, alpha=float(alpha), rho_vac=MODEL.rho_vac, tau_s=MODEL.tau_s,
            seed=1, generation=0, candidate=index, config_hash="00", code_version="test",
        )
        reports.append(validate_candidate(artifact))
    sse = np.array([report["log_prime_sse"] for report in reports])
    peaks = np.array([report["n_peaks"] for report in reports])
    assert np.sum(peaks >= 2) >= 4, peaks
    assert np.sum(sse < 900) >= 6, sse
    assert len(np.unique(np.round(sse[sse < 900], 3))) >= 3, sse  # the landscape is not flat
    assert sum(fitness(report) > 0 for report in reports) >= 6


def test_k_initial_fields_run_as_one_program_and_every_candidate_meets_the_same_fields() -> None:
    from irer.model import field_keys
    from irer.population import run_candidates

    params = Prior().sample(np.random.default_rng(4), 3)
    fields = field_keys(hunt_seed=9, count=2)
    result = run_candidates(params, fields, MODEL, GRID, STEPPING, chunk_size=2, device="cpu")  # 2 chunks of 4
    assert result.psi.shape == (3, 2, 16, 16) and result.finite.shape == (3, 2) and result.finite.all()
    for i, k in ((0, 0), (2, 1)):
        alone = solve_candidate(fields[k], params[i], MODEL, GRID, STEPPING)
        scale = float(jnp.abs(alone.psi).max())
        np.testing.assert_allclose(result.psi[i, k], np.asarray(alone.psi), rtol=0, atol=1e-5 * scale)
    assert not np.allclose(result.rho[0, 0], result.rho[0, 1])  # two fields, two outcomes
    again = run_candidates(params[::-1], fields, MODEL, GRID, STEPPING, device="cpu")  # order and batch do not matter
    np.testing.assert_allclose(again.rho[::-1], result.rho, rtol=1e-5, atol=1e-7)
    assert jax.random.key_data(field_keys(9, 3))[:2].tolist() == jax.random.key_data(fields).tolist()
