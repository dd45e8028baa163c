"""The ETDRK4 solver: coefficients, fourth-order convergence, exact solutions, stability at the seed's settings."""

from __future__ import annotations

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irer.hunter import Prior
from irer.model import FieldModel, Grid, TimeStepping, candidate_key, initial_field
from irer.population import run_population
from irer.solver import etdrk4_coefficients, resolve_dtype, solve, solve_candidate
from runlab.errors import ConfigError


@pytest.fixture
def x64() -> Iterator[None]:
    """float64 for one test; the context manager restores the previous setting on exit."""
    with jax.enable_x64(True):
        yield


# Points h*L where the coefficients are checked: tiny (cancellation), the real axis, the complex
# values the CGL operator takes (negative real part, imaginary part of either sign), and a point
# on which a unit circle of 32 points would put a node at exactly 0 (0/0 there).
Z_VALUES = np.array(
    [1e-8, -1e-3 + 2e-3j, 0.1, -0.5 - 0.8j, -np.exp(1j * np.pi / 32)]
    + [-2 + 3j, -10 - 16j, 0.05 - 40j, -40 + 60j, -300 - 480j]
)


def _direct_phi(z: complex, exp: object, one: object) -> tuple[object, ...]:
    """The closed forms of (e, e2, q/h, f1/h, f2/h, f3/h) at z, in the arithmetic of ``exp`` and ``one``."""
    z = one * z
    ez = exp(z)
    return (
        ez,
        exp(z / 2),
        (exp(z / 2) - 1) / z,
        (-4 - z + ez * (4 - 3 * z + z**2)) / z**3,
        (2 + z + ez * (z - 2)) / z**3,
        (-4 - 3 * z - z**2 + ez * (4 - z)) / z**3,
    )


def test_contour_coefficients_match_high_precision_formulas() -> None:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    h = 0.5
    got = etdrk4_coefficients(Z_VALUES / h, h)
    for i, z in enumerate(Z_VALUES):
        exact = [complex(v) for v in _direct_phi(complex(z), mpmath.exp, mpmath.mpc(1))]
        scale = [1, 1, h, h, h, h]
        for name, value, want, s in zip(got._fields, got, exact, scale):
            assert abs(value[i] - s * want) <= 1e-13 * abs(s * want) + 1e-15, (name, z)


def test_contour_coefficients_match_float64_formulas_away_from_zero() -> None:
    z = Z_VALUES[np.abs(Z_VALUES) >= 3]
    got = etdrk4_coefficients(z, 1.0)
    for value, want in zip(got, _direct_phi(z, np.exp, 1.0 + 0j)):
        np.testing.assert_allclose(value, want, rtol=1e-12)


def test_real_part_of_the_contour_mean_is_wrong_for_complex_operators() -> None:
    """Kassam & Trefethen's real-part shortcut: exact for real L, off by O(1) for the CGL's complex L."""
    z = np.array([-2 + 3j, -10 - 16j])
    got = etdrk4_coefficients(z, 1.0)
    exact = _direct_phi(z, np.exp, 1.0 + 0j)
    for value, want in zip(got[2:], exact[2:]):
        assert np.all(np.abs(value.real - want) > 1e-3 * np.abs(want))
    real = etdrk4_coefficients(np.array([-3.0, -0.01]), 1.0)
    assert all(np.abs(value.imag).max() < 1e-15 for value in real)


# A smooth order-one test problem: the non-local coefficient g*kappa = 0.5 and a ring (radius 2,
# width 0.5) that fits the 8x8 box, so the kernel's negative lobe is resolved and the error is the scheme's.
CONVERGENCE_COEFFICIENTS = {"epsilon": 1.0, "diffusion": 0.5, "nonlocal_gain": 1.0, "ring_scale": 1.0, "ring_width": 0.5}


def _convergence_order(model: FieldModel, kappa: float) -> tuple[np.ndarray, float]:
    """Errors at t=2 for 32..256 steps against 4096 steps, and the fitted slope of log error on log dt."""
    grid = Grid(n=16, dx=0.5)
    x = np.arange(grid.n) * grid.dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    w = 2 * np.pi / grid.length
    psi0 = 1.0 + 0.5 * np.cos(w * X) + 0.3j * np.sin(w * (X + 2 * Y)) + 0.2 * np.exp(2j * w * Y)
    params = np.array([kappa, 0.5, 0.7])
    final_time = 2.0
    reference = solve(psi0, params, model, grid, TimeStepping(final_time / 4096, 4096), "float64")
    counts = (32, 64, 128, 256)
    errors = []
    for steps in counts:
        result = solve(psi0, params, model, grid, TimeStepping(final_time / steps, steps), "float64")
        errors.append(
            max(
                float(jnp.abs(result.psi - reference.psi).max()),
                float(jnp.abs(result.rho_s - reference.rho_s).max()),
            )
        )
    dts = final_time / np.array(counts)
    return np.array(errors), float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


def test_fourth_order_on_the_real_equation(x64: None) -> None:
    errors, order = _convergence_order(FieldModel(**CONVERGENCE_COEFFICIENTS, c1=0.0, c3=0.0), kappa=0.5)
    assert errors[-1] > 1e-11  # above round-off, so the slope measures the scheme
    assert 3.5 <= order <= 4.5, (errors, order)


def test_fourth_order_with_complex_coefficients(x64: None) -> None:
    errors, order = _convergence_order(FieldModel(**CONVERGENCE_COEFFICIENTS, c1=2.0, c3=-1.0), kappa=0.5)
    assert errors[-1] > 1e-11
    assert 3.5 <= order <= 4.5, (errors, order)


@pytest.mark.parametrize("kappa", [0.0, 0.3])
def test_uniform_field_follows_the_stuart_landau_solution(x64: None, kappa: float) -> None:
    """Uniform psi: K*|psi|² = |psi|² (unit kernel mass), so |psi|² and the phase have closed forms."""
    model = FieldModel(epsilon=0.1, c1=0.8, c3=0.7, nonlocal_gain=2.0)
    a0 = 0.05 * np.exp(0.4j)
    stepping = TimeStepping(dt=0.1, steps=400)
    result = solve(np.full((8, 8), a0), np.array([kappa, 0.4, 0.5]), model, Grid(n=8), stepping, "float64")
    t, eps, r0, sat = stepping.final_time, model.epsilon, abs(a0) ** 2, 1.0 + model.nonlocal_gain * kappa
    growth = np.expm1(2 * eps * t)
    r = eps * r0 * np.exp(2 * eps * t) / (eps + sat * r0 * growth)
    phase = np.angle(a0) - model.c3 * np.log1p(sat * r0 * growth / eps) / (2 * sat)
    psi = np.asarray(result.psi)
    np.testing.assert_allclose(psi, np.sqrt(r) * np.exp(1j * phase), rtol=0, atol=1e-7 * np.sqrt(r))


def test_rho_s_relaxes_to_the_density_with_time_constant_tau_s(x64: None) -> None:
    model = FieldModel(epsilon=0.1, c3=0.0, tau_s=2.5, rho_vac=1.0)  # c3 = 0: psi is a fixed point
    kappa, alpha = 0.05, 0.6
    density = model.epsilon / (1 + model.nonlocal_gain * kappa)  # the uniform fixed point of |psi|²
    stepping = TimeStepping(dt=0.2, steps=20)
    psi0 = np.full((8, 8), np.sqrt(density) * np.exp(1.1j))
    result = solve(psi0, np.array([kappa, 0.3, alpha]), model, Grid(n=8), stepping, "float64")
    expected = density + (model.rho_vac - density) * np.exp(-stepping.final_time / model.tau_s)
    np.testing.assert_allclose(np.asarray(result.rho_s), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(result.g_tt), -((model.rho_vac / expected) ** alpha), rtol=1e-12)
    np.testing.assert_allclose(np.abs(np.asarray(result.psi)) ** 2, density, rtol=1e-12)


SEED_GRID = Grid(n=64, dx=1.0)
SEED_STEPPING = TimeStepping(dt=0.01, steps=200)


def _seed_euler(psi: jax.Array, steps: int, dt: float) -> jax.Array:
    """The seed's worker step as written (explicit Euler, k = 2π·fftfreq(N, 1/N)), complex64."""
    n = psi.shape[0]
    k = 2 * jnp.pi * jnp.fft.fftfreq(n, d=1.0 / n)
    k_sq = k[:, None] ** 2 + k[None, :] ** 2

    def body(_: int, field: jax.Array) -> jax.Array:
        diffusion = (0.5 + 0.8j) * jnp.fft.ifftn(-k_sq * jnp.fft.fftn(field))
        return field + (0.1 * field + diffusion - jnp.abs(field) ** 2 * field) * dt

    return jax.lax.fori_loop(0, steps, body, psi)


def test_no_nan_at_the_seed_settings_where_the_seed_step_diverges() -> None:
    corners = [[0.001, 0.1, 0.01], [0.1, 1.0, 1.0], [0.1, 0.1, 1.0]]
    params = np.vstack([corners, Prior().sample(np.random.default_rng(5), 3)])
    keys = jnp.stack([candidate_key(42, 0, i) for i in range(len(params))])
    result = run_population(params, keys, FieldModel(), SEED_GRID, SEED_STEPPING, device="cpu")
    assert result.finite.all()
    assert result.psi.dtype == np.complex64 and result.g_tt.dtype == np.float32

    seed_field = _seed_euler(initial_field(keys[0], SEED_GRID.n), SEED_STEPPING.steps, SEED_STEPPING.dt)
    assert not bool(jnp.isfinite(seed_field).all())


def test_structure_forms_with_unit_spacing_but_not_in_the_seed_unit_box() -> None:
    """dx = 1 leaves a band of growing modes (defects persist); the seed's L = 1 damps every k != 0."""
    params = np.array([[0.05, 0.5, 0.5], [0.01, 0.2, 0.3]])
    keys = jnp.stack([candidate_key(3, 0, i) for i in range(2)])
    stepping = TimeStepping(dt=0.5, steps=200)
    contrast = {}
    for dx in (1.0, 1.0 / 64):
        rho = run_population(params, keys, FieldModel(), Grid(n=64, dx=dx), stepping, device="cpu").rho
        contrast[dx] = rho.std(axis=(1, 2)) / rho.mean(axis=(1, 2))
    assert np.all(contrast[1.0] > 0.05), contrast
    assert np.all(contrast[1.0 / 64] < 1e-4), contrast


def test_single_candidate_runs_in_float32_by_default() -> None:
    params = np.array([0.05, 0.5, 0.5])
    result = solve_candidate(candidate_key(1, 2, 3), params, FieldModel(), Grid(n=16), TimeStepping(0.25, 8))
    assert result.psi.shape == (16, 16) and result.psi.dtype == jnp.complex64
    assert result.rho_s.dtype == jnp.float32 and result.g_tt.dtype == jnp.float32


def test_float64_without_x64_is_a_config_error() -> None:
    if jax.config.jax_enable_x64:
        pytest.skip("jax_enable_x64 is on in this process")
    with pytest.raises(ConfigError, match="jax_enable_x64") as caught:
        resolve_dtype("float64")
    assert caught.value.exit_code == 2
