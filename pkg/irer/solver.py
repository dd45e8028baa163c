"""Pseudo-spectral ETDRK4 solver for the IRER field ``psi`` and the density ``rho_s`` (one candidate).

The state is ``(psi_hat, rho_hat)`` in Fourier space: ``psi_hat = fft2(psi)`` with shape ``(N, N)``
and ``rho_hat = rfft2(rho_s)`` with shape ``(N, N//2 + 1)`` (``rho_s`` is real). The stiff linear
parts, ``L_psi(k) = epsilon - (D + i c1)|k|²`` and ``L_rho = -1/tau_s``, are integrated exactly;
every other term, the non-local one included, is in the nonlinear function and is evaluated
pseudo-spectrally (products on the grid, the convolution as a product in Fourier space). The
non-local kernel is a ring of radius ``ring_scale / sigma_k``, positive in real space (so it cannot
make the density collapse) with a negative lobe in Fourier space (so it can destabilise a band). The
scheme is Cox & Matthews' ETDRK4 with its coefficients from Kassam & Trefethen's contour integral,
kept complex because ``L_psi`` is complex. No dealiasing (see ``spec/irer/equations.md``).

Precision: ``dtype="float32"`` runs in float32/complex64, ``"float64"`` in float64/complex128
(needs ``jax_enable_x64``); ``None`` picks float64 when ``jax_enable_x64`` is on, else float32.
The ETDRK4 coefficients are always computed in NumPy complex128 and then cast.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from runlab import ConfigError

from .model import FieldModel, Grid, TimeStepping, check_params, initial_field, metric_g_tt

__all__ = [
    "CONTOUR_POINTS",
    "contour_radius",
    "EtdCoefficients",
    "FieldState",
    "SolverResult",
    "SpectralSetup",
    "advance",
    "advance_from_key",
    "density",
    "etdrk4_coefficients",
    "evolve",
    "resolve_dtype",
    "ring_kernel_hat",
    "solve",
    "solve_candidate",
    "spectral_setup",
]

CONTOUR_POINTS = 32
"""Points on the (full) circle in the contour mean of the ETDRK4 coefficients."""


class EtdCoefficients(NamedTuple):
    """The ETDRK4 coefficients of one linear operator ``L`` and step ``h`` (each the shape of ``L``).

    ``e = exp(hL)``, ``e2 = exp(hL/2)``; ``q``, ``f1``, ``f2``, ``f3`` are the phi-function
    combinations of Cox & Matthews (2002, eq. 26), multiplied by ``h``. A pytree, so one instance can
    hold a tuple of arrays per field of a joint state.
    """

    e: Any
    e2: Any
    q: Any
    f1: Any
    f2: Any
    f3: Any


class FieldState(NamedTuple):
    """The joint state in Fourier space: ``psi_hat`` ``(N, N)`` complex, ``rho_hat`` ``(N, N//2+1)`` complex."""

    psi_hat: jax.Array
    rho_hat: jax.Array


class SpectralSetup(NamedTuple):
    """What the time loop needs, as arrays of the working dtype (a pytree; vmap it with ``in_axes=None``)."""

    coefficients: EtdCoefficients  # each field a FieldState of (N, N) and () complex arrays
    distance: jax.Array  # (N, N) real, periodic distance from the origin, length (for the kernel)
    c3: jax.Array  # () real
    nonlocal_gain: jax.Array  # () real
    ring_scale: jax.Array  # () real, length·(1/length): ring radius times sigma_k
    ring_width: jax.Array  # () real, length
    inv_tau_s: jax.Array  # () real, 1/time
    rho_vac: jax.Array  # () real


class SolverResult(NamedTuple):
    """One candidate's final fields on the grid: ``psi`` complex, ``rho_s`` and ``g_tt`` real, each ``(N, N)``;
    ``snapshots_rho`` ``(S, N, N)`` real, |psi|² at ``S`` equal intervals (None when none were asked for)."""

    psi: jax.Array
    rho_s: jax.Array
    g_tt: jax.Array
    snapshots_rho: jax.Array | None = None


def contour_radius(hl: np.ndarray) -> np.ndarray:
    """Radius of the contour around each ``h*L``: 1 (Kassam & Trefethen) unless that circle passes within 0.5 of 0.

    The phi-functions are entire, so any radius gives the same mean up to the trapezoid error,
    which is below 1e-17 for radii up to 2 at 32 points. A fixed radius of 1 passes arbitrarily close to
    the origin when ``|h*L|`` is near 1, where the direct formulas cancel catastrophically; here
    every contour point stays at least 0.5 from the origin (radius ``|h*L| + 0.5`` for ``|h*L| < 1.5``).
    """
    size = np.abs(hl)
    return np.where(size < 1.5, size + 0.5, 1.0)


def etdrk4_coefficients(linear: np.ndarray, dt: float, contour_points: int = CONTOUR_POINTS) -> EtdCoefficients:
    """ETDRK4 coefficients for ``u' = L u + N(u)`` with step ``dt``, as complex128 arrays of ``L``'s shape.

    Each phi-function is the mean of its value at ``contour_points`` points on the full circle
    around ``dt * L`` (Kassam & Trefethen 2005; radius from ``contour_radius``), which avoids the
    cancellation of the direct formulas near ``dt * L = 0``. The complex mean is kept: taking its
    real part, as the paper does, is valid only for real ``L``. Computed once per distinct ``L``.
    """
    h = float(dt)
    hl_all = h * np.asarray(linear, dtype=np.complex128)
    hl, inverse = np.unique(hl_all.ravel(), return_inverse=True)
    roots = np.exp(2j * np.pi * (np.arange(contour_points) + 0.5) / contour_points)
    z = hl[:, None] + contour_radius(hl)[:, None] * roots[None, :]
    ez = np.exp(z)
    q = h * np.mean((np.exp(z / 2) - 1) / z, axis=1)
    f1 = h * np.mean((-4 - z + ez * (4 - 3 * z + z**2)) / z**3, axis=1)
    f2 = h * np.mean((2 + z + ez * (z - 2)) / z**3, axis=1)
    f3 = h * np.mean((-4 - 3 * z - z**2 + ez * (4 - z)) / z**3, axis=1)

    def back(values: np.ndarray) -> np.ndarray:
        return values[inverse].reshape(hl_all.shape)

    return EtdCoefficients(
        e=np.exp(hl_all), e2=np.exp(hl_all / 2), q=back(q), f1=back(f1), f2=back(f2), f3=back(f3)
    )


def resolve_dtype(dtype: str | None = None) -> np.dtype:
    """The working real dtype: ``"float32"``, ``"float64"`` (needs ``jax_enable_x64``), or None for JAX's default."""
    x64 = bool(jax.config.jax_enable_x64)
    if dtype is None:
        return np.dtype(np.float64 if x64 else np.float32)
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"irer solver dtype {dtype!r} is not supported", "use float32, float64, or leave it unset")
    if dtype == "float64" and not x64:
        raise ConfigError(
            "irer solver dtype float64 needs jax_enable_x64, which is off",
            "set JAX_ENABLE_X64=1 (or jax.config.update('jax_enable_x64', True)) before any JAX call, or use float32",
        )
    return np.dtype(dtype)


def spectral_setup(model: FieldModel, grid: Grid, dt: float, dtype: str | None = None) -> SpectralSetup:
    """The coefficients and constants of ``model`` on ``grid`` for step ``dt``, cast to the working dtype."""
    real = resolve_dtype(dtype)
    cplx = np.result_type(real, np.complex64)
    linear_psi = model.epsilon - (model.diffusion + 1j * model.c1) * grid.k_squared()
    psi = etdrk4_coefficients(linear_psi, dt)
    rho = etdrk4_coefficients(np.array(-1.0 / model.tau_s), dt)
    coefficients = EtdCoefficients(
        *(FieldState(jnp.asarray(p, dtype=cplx), jnp.asarray(r, dtype=cplx)) for p, r in zip(psi, rho))
    )
    return SpectralSetup(
        coefficients=coefficients,
        distance=jnp.asarray(grid.distance(), dtype=real),
        c3=jnp.asarray(model.c3, dtype=real),
        nonlocal_gain=jnp.asarray(model.nonlocal_gain, dtype=real),
        ring_scale=jnp.asarray(model.ring_scale, dtype=real),
        ring_width=jnp.asarray(model.ring_width, dtype=real),
        inv_tau_s=jnp.asarray(1.0 / model.tau_s, dtype=real),
        rho_vac=jnp.asarray(model.rho_vac, dtype=real),
    )


def ring_kernel_hat(distance: jax.Array, sigma_k: jax.Array, ring_scale: jax.Array, ring_width: jax.Array) -> jax.Array:
    """``K^`` on the ``rfft2`` layout, ``(N, N//2+1)``, of the unit-mass ring kernel; traceable in ``sigma_k``.

    ``K(x) ∝ exp(-(|x| - R)² / (2 w²))`` with ``R = ring_scale / sigma_k`` and ``w = ring_width`` (lengths),
    ``|x|`` the periodic distance on the grid (``distance``, ``(N, N)``), normalised to sum 1 over the grid
    so that ``K^(0) = 1`` (a ring wider than the box keeps its weight where it comes nearest: the corners).
    ``K >= 0`` everywhere; ``K^`` has its most negative value near
    ``|k| = 3.83 / R`` (the first minimum of ``J0(|k| R)``, about -0.4).
    """
    offset = (distance - ring_scale / sigma_k) ** 2
    # relative to the nearest point, so a ring larger than the box (its weight only in the corners) cannot underflow to 0/0
    kernel = jnp.exp(-(offset - jnp.min(offset)) / (2 * ring_width**2))
    kernel = kernel / jnp.sum(kernel)
    return jnp.real(jnp.fft.rfft2(kernel))


def density(psi: jax.Array) -> jax.Array:
    """``|psi|²`` of a complex field, real, same shape."""
    return jnp.real(psi * jnp.conj(psi))


def _nonlinear(state: FieldState, setup: SpectralSetup, kappa: jax.Array, kernel_half: jax.Array) -> FieldState:
    """``N(psi_hat, rho_hat)``: the transforms of ``-(1+i c3)|psi|²psi - g kappa (K*|psi|²)psi`` and ``|psi|²/tau_s``.

    ``kernel_half`` is ``g K^(k)`` on the ``rfft2`` layout, ``(N, N//2+1)`` (the gain folded in).
    """
    n = state.psi_hat.shape[-1]
    psi = jnp.fft.ifft2(state.psi_hat)
    rho = density(psi)
    density_hat = jnp.fft.rfft2(rho)
    smoothed = jnp.fft.irfft2(kernel_half * density_hat, s=(n, n))
    rate = (1 + 1j * setup.c3) * rho + kappa * smoothed
    return FieldState(psi_hat=jnp.fft.fft2(-rate * psi), rho_hat=density_hat * setup.inv_tau_s)


def _etdrk4_step(state: FieldState, setup: SpectralSetup, kappa: jax.Array, kernel_half: jax.Array) -> FieldState:
    """One ETDRK4 step (Cox & Matthews 2002; Kassam & Trefethen 2005, eq. 2.5) on the joint state."""
    c = setup.coefficients
    nonlinear = partial(_nonlinear, setup=setup, kappa=kappa, kernel_half=kernel_half)
    tree = jax.tree.map
    n_v = nonlinear(state)
    a = tree(lambda e2, q, v, nv: e2 * v + q * nv, c.e2, c.q, state, n_v)
    n_a = nonlinear(a)
    b = tree(lambda e2, q, v, na: e2 * v + q * na, c.e2, c.q, state, n_a)
    n_b = nonlinear(b)
    cc = tree(lambda e2, q, a_, nb, nv: e2 * a_ + q * (2 * nb - nv), c.e2, c.q, a, n_b, n_v)
    n_c = nonlinear(cc)
    return tree(
        lambda e, f1, f2, f3, v, nv, na, nb, nc: e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc,
        c.e, c.f1, c.f2, c.f3, state, n_v, n_a, n_b, n_c,
    )


def evolve(setup: SpectralSetup, psi0: jax.Array, kappa: jax.Array, sigma_k: jax.Array, steps: int,
           snapshots: int = 0) -> tuple[FieldState, jax.Array | None]:
    """Advance ``psi0`` (``(N, N)`` complex) and ``rho_s = rho_vac`` by ``steps`` ETDRK4 steps; traceable.

    Returns the final Fourier-space state and, when ``snapshots`` > 0 (a divisor of ``steps``), |psi|²
    ``(snapshots, N, N)`` after every ``steps / snapshots`` steps (else None). ``kappa`` and ``sigma_k``
    are scalars (traced or not).
    """
    n = psi0.shape[-1]
    real = setup.distance.dtype
    kernel = ring_kernel_hat(setup.distance, jnp.asarray(sigma_k, real), setup.ring_scale, setup.ring_width)
    kernel_half = setup.nonlocal_gain * kernel
    rho0 = jnp.full((n, n), setup.rho_vac, dtype=real)
    psi0 = psi0.astype(setup.coefficients.e.psi_hat.dtype)
    start = FieldState(psi_hat=jnp.fft.fft2(psi0), rho_hat=jnp.fft.rfft2(rho0))
    kappa = jnp.asarray(kappa, real)

    def body(state: FieldState, _: None) -> tuple[FieldState, None]:
        return _etdrk4_step(state, setup, kappa, kernel_half), None

    if not snapshots:
        final, _ = jax.lax.scan(body, start, None, length=steps)
        return final, None

    def interval(state: FieldState, _: None) -> tuple[FieldState, jax.Array]:
        state, _ = jax.lax.scan(body, state, None, length=steps // snapshots)
        return state, density(jnp.fft.ifft2(state.psi_hat))

    return jax.lax.scan(interval, start, None, length=snapshots)


def advance(setup: SpectralSetup, params: jax.Array, psi0: jax.Array, steps: int, snapshots: int = 0) -> SolverResult:
    """Final ``psi``, ``rho_s``, ``g_tt`` (each ``(N, N)``) after ``steps`` steps from ``psi0``, and the
    ``snapshots`` of |psi|² on the way (``evolve``); traceable.

    ``params`` is the ``(3,)`` vector ``(kappa, sigma_k, alpha)``.
    """
    kappa, sigma_k, alpha = params[0], params[1], params[2]
    final, snapshots_rho = evolve(setup, psi0, kappa, sigma_k, steps, snapshots)
    n = psi0.shape[-1]
    psi = jnp.fft.ifft2(final.psi_hat)
    rho_s = jnp.fft.irfft2(final.rho_hat, s=(n, n))
    return SolverResult(psi=psi, rho_s=rho_s, g_tt=metric_g_tt(rho_s, alpha.astype(rho_s.dtype), setup.rho_vac),
                        snapshots_rho=snapshots_rho)


def advance_from_key(setup: SpectralSetup, params: jax.Array, key: jax.Array, steps: int,
                     snapshots: int = 0) -> SolverResult:
    """``advance`` from the candidate's initial field ``initial_field(key)``; traceable and vmappable."""
    n = setup.distance.shape[0]
    psi0 = initial_field(key, n, setup.coefficients.e.psi_hat.dtype)
    return advance(setup, params, psi0, steps, snapshots)


_advance_jit = jax.jit(advance, static_argnames=("steps", "snapshots"))


def solve(
    psi0: np.ndarray | jax.Array,
    params: np.ndarray | jax.Array,
    model: FieldModel,
    grid: Grid,
    stepping: TimeStepping,
    dtype: str | None = None,
) -> SolverResult:
    """Evolve a given initial field ``psi0`` (``(N, N)`` complex) for one candidate; jit-compiled.

    ``params`` is ``(kappa, sigma_k, alpha)``, checked as ``model.check_params`` does. Returns JAX
    arrays of the working dtype, each ``(N, N)``.
    """
    if np.shape(psi0) != (grid.n, grid.n):
        raise ConfigError(
            f"irer initial field has shape {np.shape(psi0)}, the grid is {grid.n}x{grid.n}", "match grid.n"
        )
    theta = check_params(np.reshape(np.asarray(params), (1, -1)))[0]
    setup = spectral_setup(model, grid, stepping.dt, dtype)
    real = setup.distance.dtype
    psi0 = jnp.asarray(psi0, dtype=setup.coefficients.e.psi_hat.dtype)
    return _advance_jit(setup, jnp.asarray(theta, dtype=real), psi0, steps=stepping.steps,
                        snapshots=stepping.snapshots)


def solve_candidate(
    key: jax.Array,
    params: np.ndarray | jax.Array,
    model: FieldModel,
    grid: Grid,
    stepping: TimeStepping,
    dtype: str | None = None,
) -> SolverResult:
    """One candidate from its key (``model.candidate_key``), as the seed's one-process-per-candidate worker ran it.

    ``solve`` from ``initial_field(key)``: the same field ``population.run_population`` starts that candidate from.
    """
    cplx = np.result_type(resolve_dtype(dtype), np.complex64)
    return solve(initial_field(key, grid.n, cplx), params, model, grid, stepping, dtype)
