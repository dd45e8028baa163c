"""The IRER field model: fixed coefficients, grid, time stepping, evolved parameters, initial state.

Everything here is dimensionless: lengths in units of the grid length scale (``dx = 1`` by
default), times in units of the model time (``1/epsilon`` is ten of them at the defaults), the
field ``psi`` in units where the cubic saturation coefficient is 1. ``spec/irer/equations.md``
states the equations these numbers enter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from runlab import ConfigError

from .parameters import PARAMETER_NAMES

__all__ = [
    "FIELD_STREAM",
    "INITIAL_AMPLITUDE",
    "PARAMETER_NAMES",
    "RHO_FLOOR",
    "FieldModel",
    "Grid",
    "TimeStepping",
    "candidate_key",
    "candidate_keys",
    "field_keys",
    "check_params",
    "initial_field",
    "metric_g_tt",
]

INITIAL_AMPLITUDE = 0.1
"""RMS modulus of the initial field: ``psi(0) = 0.1 * z`` with ``z`` standard complex normal per point."""

RHO_FLOOR = 1e-9
"""Floor on ``rho_s`` in the metric ansatz, so ``g_tt`` stays finite (the seed's clip)."""


@dataclass(frozen=True)
class FieldModel:
    """The fixed (config) coefficients of the field and geometry equations; seed defaults."""

    epsilon: float = 0.1  # linear growth rate, 1/time
    diffusion: float = 0.1  # D: real part of the Laplacian coefficient, length²/time (seed 0.5, rescaled)
    c1: float = 0.16  # linear dispersion: imaginary part of the Laplacian coefficient, length²/time (seed 0.8)
    c3: float = 0.0  # nonlinear frequency shift, relative to the (unit) saturation coefficient
    tau_s: float = 1.0  # relaxation time of rho_s towards |psi|², time
    rho_vac: float = 1.0  # vacuum density: rho_s(0) and the reference of the metric ansatz
    nonlocal_gain: float = 300.0  # g: the non-local saturation coefficient is g*kappa (local one: 1)
    ring_scale: float = 4.0  # the kernel's ring radius is ring_scale / sigma_k, length (sigma_k in 1/length)
    ring_width: float = 1.0  # Gaussian half-width of the kernel's ring, length

    def __post_init__(self) -> None:
        names = ("epsilon", "diffusion", "c1", "c3", "tau_s", "rho_vac", "nonlocal_gain", "ring_scale", "ring_width")
        bad = [name for name in names if not math.isfinite(getattr(self, name))]
        if bad:
            raise ConfigError(f"irer model coefficient(s) {bad} are not finite", "set finite numbers in the config")
        if self.diffusion <= 0 or self.tau_s <= 0 or self.rho_vac <= 0:
            raise ConfigError(
                f"irer model needs diffusion, tau_s and rho_vac > 0"
                f" (got {self.diffusion}, {self.tau_s}, {self.rho_vac})",
                "D <= 0 makes the field equation ill-posed; tau_s and rho_vac are positive scales",
            )
        if self.nonlocal_gain < 0 or self.ring_scale <= 0 or self.ring_width <= 0:
            raise ConfigError(
                f"irer model needs nonlocal_gain >= 0 and ring_scale, ring_width > 0"
                f" (got {self.nonlocal_gain}, {self.ring_scale}, {self.ring_width})",
                "a negative gain would make the non-local term anti-saturating (blow-up); the ring needs a size",
            )


@dataclass(frozen=True)
class Grid:
    """A periodic ``n × n`` grid with spacing ``dx`` (length); the box side is ``L = n * dx``."""

    n: int = 64
    dx: float = 1.0

    def __post_init__(self) -> None:
        if self.n < 4 or self.n % 2:
            raise ConfigError(f"irer grid size n={self.n} must be even and at least 4", "use e.g. n: 64")
        if not (math.isfinite(self.dx) and self.dx > 0):
            raise ConfigError(f"irer grid spacing dx={self.dx} must be a positive number", "use dx: 1.0")

    @property
    def length(self) -> float:
        """Side of the periodic box, length."""
        return self.n * self.dx

    def wavenumbers(self) -> np.ndarray:
        """Angular wavenumbers ``2π·fftfreq(n, dx)``, shape ``(n,)``, 1/length, float64."""
        return 2.0 * np.pi * np.fft.fftfreq(self.n, d=self.dx)

    def k_squared(self) -> np.ndarray:
        """``|k|²`` on the full FFT layout, shape ``(n, n)``, 1/length², float64."""
        k = self.wavenumbers()
        return k[:, None] ** 2 + k[None, :] ** 2

    def distance(self) -> np.ndarray:
        """Periodic (minimum-image) distance of each grid point from the origin, ``(n, n)``, length, float64."""
        x = self.dx * np.fft.fftfreq(self.n, d=1.0 / self.n)  # 0, dx, ..., then negative offsets
        return np.hypot(x[:, None], x[None, :])


@dataclass(frozen=True)
class TimeStepping:
    """``steps`` ETDRK4 steps of size ``dt`` (time); the final time is ``steps * dt``. ``snapshots`` > 0 also
    keeps |psi|² at that many equal intervals, the last at the final time (``steps`` must divide evenly)."""

    dt: float = 0.25
    steps: int = 800
    snapshots: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ConfigError(f"irer time step dt={self.dt} must be a positive number", "use dt: 0.25")
        if self.steps < 1:
            raise ConfigError(f"irer steps={self.steps} must be at least 1", "use steps: 800")
        if self.snapshots < 0 or (self.snapshots and self.steps % self.snapshots):
            raise ConfigError(f"irer snapshots={self.snapshots} must be 0 or divide steps={self.steps} evenly",
                              "use snapshots: 0 (none), or a divisor of steps such as 8 for 800 steps")

    @property
    def final_time(self) -> float:
        """``steps * dt``, time."""
        return self.steps * self.dt


def check_params(params: np.ndarray) -> np.ndarray:
    """``params`` as a float64 ``(P, 3)`` matrix (columns ``PARAMETER_NAMES``), or ConfigError.

    Values outside the hunter's prior are allowed (a mutation may step out); what is refused is what
    the equations cannot take: non-finite values, ``kappa < 0``, ``sigma_k <= 0``, ``alpha < 0``.
    """
    matrix = np.asarray(params, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(PARAMETER_NAMES) or matrix.shape[0] == 0:
        raise ConfigError(
            f"irer parameters must be a (P, {len(PARAMETER_NAMES)}) matrix with P >= 1, got shape {matrix.shape}",
            f"columns are {', '.join(PARAMETER_NAMES)}",
        )
    kappa, sigma_k, alpha = matrix.T
    bad = ~np.isfinite(matrix).all(axis=1) | (kappa < 0) | (sigma_k <= 0) | (alpha < 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ConfigError(
            f"irer candidate(s) {rows} have unusable parameters (need finite kappa >= 0, sigma_k > 0, alpha >= 0)",
            "clip mutated parameters to the prior bounds",
        )
    return matrix


def _uint32(name: str, value: int) -> int:
    """``value`` as an int when it fits an unsigned 32-bit integer (what ``fold_in`` takes), else ConfigError."""
    if not 0 <= int(value) < 2**32:
        raise ConfigError(f"irer {name}={value} must lie in [0, 2**32)", "use a non-negative 32-bit integer")
    return int(value)


def _generation_key(hunt_seed: int, generation: int) -> jax.Array:
    """``fold_in(key(hunt_seed), generation)``: the parent of every candidate key of that generation."""
    return jax.random.fold_in(jax.random.key(_uint32("hunt_seed", hunt_seed)), _uint32("generation", generation))


def candidate_key(hunt_seed: int, generation: int, index: int) -> jax.Array:
    """The initial-condition key of one candidate: ``fold_in(fold_in(key(hunt_seed), generation), index)``.

    A typed JAX PRNG key (threefry); the same triple gives the same key on every host and device.
    """
    return jax.random.fold_in(_generation_key(hunt_seed, generation), _uint32("index", index))


def candidate_keys(hunt_seed: int, generation: int, count: int) -> jax.Array:
    """Keys of candidates ``0 .. count-1`` of one generation, a typed key array of shape ``(count,)``."""
    if count < 1:
        raise ConfigError(f"irer population size {count} must be at least 1", "use a positive population size")
    generation_key = _generation_key(hunt_seed, generation)
    return jax.vmap(lambda index: jax.random.fold_in(generation_key, index))(jnp.arange(count, dtype=jnp.uint32))


FIELD_STREAM = 2**32 - 1
"""The ``fold_in`` word under the hunt seed that roots the initial fields; no generation number reaches it."""


def field_keys(hunt_seed: int, count: int) -> jax.Array:
    """The keys of the hunt's ``count`` initial fields, ``fold_in(fold_in(key(hunt_seed), FIELD_STREAM), k)``
    for ``k = 0 .. count-1``, a typed key array ``(count,)``. Every candidate of every generation is integrated
    from these same fields, so its result depends on its parameters and the config alone."""
    if count < 1:
        raise ConfigError(f"irer initial_fields={count} must be at least 1", "use initial_fields: 8")
    root = jax.random.fold_in(jax.random.key(_uint32("hunt_seed", hunt_seed)), FIELD_STREAM)
    return jax.vmap(lambda index: jax.random.fold_in(root, index))(jnp.arange(count, dtype=jnp.uint32))


def initial_field(key: jax.Array, n: int, dtype: jnp.dtype = jnp.complex64) -> jax.Array:
    """``psi(0) = 0.1 * z``, ``z`` standard complex normal (E|z|² = 1) per point; shape ``(n, n)``.

    The draw is always made in complex64 and then cast to ``dtype``, so a float32 and a float64 run
    of the same candidate start from the same field (the seed also draws in complex64).
    """
    return (jax.random.normal(key, (n, n), dtype=jnp.complex64) * INITIAL_AMPLITUDE).astype(dtype)


def metric_g_tt(rho_s: jax.Array, alpha: jax.Array | float, rho_vac: float) -> jax.Array:
    """The metric ansatz ``g_tt = -(rho_vac / max(rho_s, 1e-9))**alpha``, same shape and dtype as ``rho_s``."""
    return -jnp.power(rho_vac / jnp.maximum(rho_s, RHO_FLOOR), alpha)
