"""A whole generation of IRER candidates as one jit-compiled, vmapped solve, chunked to fit in memory.

The seed ran one process per candidate, each compiling and running its own ``lax.scan``. Here the
candidates of a chunk share one compiled program: ``jax.vmap`` of ``solver.advance_from_key`` over
their parameter vectors and initial keys. The last chunk is padded to the chunk size (with copies
of the first candidate, whose results are dropped), so a generation compiles exactly once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from runlab import ConfigError

from .model import FieldModel, Grid, TimeStepping, check_params
from .solver import SpectralSetup, advance_from_key, density, spectral_setup

__all__ = ["DEVICES", "PopulationResult", "resolve_device", "run_candidates", "run_population"]

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "gpu")
"""Accepted ``device`` values: ``auto`` takes a GPU when JAX sees one, else the CPU; ``cuda`` = ``gpu``."""


@dataclass(frozen=True)
class PopulationResult:
    """Final fields of ``P`` candidates on an ``N × N`` grid, as NumPy arrays of the working dtype.

    ``psi`` ``(P, N, N)`` complex; ``rho = |psi|²``, ``rho_s`` and ``g_tt`` ``(P, N, N)`` real;
    ``finite`` ``(P,)`` bool, True where all four arrays of that candidate are finite; ``snapshots_rho``
    ``(P, S, N, N)`` when ``TimeStepping.snapshots`` is ``S`` > 0, else None.
    """

    psi: np.ndarray
    rho: np.ndarray
    rho_s: np.ndarray
    g_tt: np.ndarray
    finite: np.ndarray
    snapshots_rho: np.ndarray | None = None  # (P, S, N, N) real, |psi|² at S equal intervals, if asked for


def resolve_device(device: str) -> jax.Device:
    """The JAX device for ``device`` (see ``DEVICES``); ``cuda``/``gpu`` without a visible GPU is a ConfigError."""
    if device not in DEVICES:
        raise ConfigError(f"irer device {device!r} is not one of {', '.join(DEVICES)}", "use device: auto")
    if device == "cpu":
        return jax.devices("cpu")[0]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if gpus:
        return gpus[0]
    if device == "auto":
        return jax.devices("cpu")[0]
    platforms = ", ".join(sorted({d.platform for d in jax.devices()}))
    raise ConfigError(
        f"irer device {device!r} requested but JAX sees no GPU (platforms: {platforms})",
        "run on a GPU node with a CUDA build of jaxlib (jax[cuda12]), or set device: cpu or auto",
    )


def _generation(setup: SpectralSetup, params: jax.Array, keys: jax.Array, steps: int,
                snapshots: int) -> tuple[jax.Array | None, ...]:
    """``(psi, rho, rho_s, g_tt, finite, snapshots_rho)`` of a chunk: ``params`` ``(C, 3)``, ``keys`` ``(C,)``."""
    result = jax.vmap(partial(advance_from_key, steps=steps, snapshots=snapshots), in_axes=(None, 0, 0))(
        setup, params, keys)
    rho = density(result.psi)
    finite = jnp.stack(
        [jnp.isfinite(x).all(axis=(1, 2)) for x in (result.psi, rho, result.rho_s, result.g_tt)]
    ).all(axis=0)
    return result.psi, rho, result.rho_s, result.g_tt, finite, result.snapshots_rho


_generation_jit = jax.jit(_generation, static_argnames=("steps", "snapshots"))


def run_population(
    params: np.ndarray,
    keys: jax.Array,
    model: FieldModel,
    grid: Grid,
    stepping: TimeStepping,
    *,
    chunk_size: int | None = None,
    device: str = "auto",
    dtype: str | None = None,
) -> PopulationResult:
    """Solve ``P`` candidates: ``params`` ``(P, 3)`` (columns ``model.PARAMETER_NAMES``), ``keys`` ``(P,)`` PRNG keys.

    Candidates run ``chunk_size`` at a time (all at once when None) through one compiled program
    on ``device``; ``dtype`` as in ``solver.resolve_dtype``. Candidate ``i`` gets the same result
    as ``solver.solve_candidate(keys[i], params[i], ...)`` up to float rounding.
    """
    matrix = check_params(params)
    count = matrix.shape[0]
    if keys.shape != (count,):
        raise ConfigError(
            f"irer got {keys.shape} keys for {count} candidates", "pass model.candidate_keys(seed, generation, P)"
        )
    chunk = count if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ConfigError(
            f"irer chunk_size={chunk_size} must be at least 1", "use a positive chunk_size, or leave it unset"
        )
    chunk = min(chunk, count)
    target = resolve_device(device)
    setup = jax.device_put(spectral_setup(model, grid, stepping.dt, dtype), target)
    real = setup.distance.dtype

    padded = math.ceil(count / chunk) * chunk
    order = np.concatenate([np.arange(count), np.zeros(padded - count, dtype=np.int64)])
    all_params = jax.device_put(jnp.asarray(matrix[order], dtype=real), target)
    all_keys = jax.device_put(keys[order], target)

    n = grid.n
    cplx = np.result_type(real, np.complex64)
    out = PopulationResult(
        psi=np.empty((count, n, n), dtype=cplx),
        rho=np.empty((count, n, n), dtype=real),
        rho_s=np.empty((count, n, n), dtype=real),
        g_tt=np.empty((count, n, n), dtype=real),
        finite=np.empty(count, dtype=bool),
        snapshots_rho=np.empty((count, stepping.snapshots, n, n), dtype=real) if stepping.snapshots else None,
    )
    targets = (out.psi, out.rho, out.rho_s, out.g_tt, out.finite, out.snapshots_rho)
    for start in range(0, padded, chunk):
        stop = min(start + chunk, count)
        window = slice(start, start + chunk)
        arrays = _generation_jit(setup, all_params[window], all_keys[window], steps=stepping.steps,
                                 snapshots=stepping.snapshots)
        for target_array, values in zip(targets, arrays):
            if target_array is not None:
                target_array[start:stop] = np.asarray(values)[: stop - start]
    return out


def run_candidates(
    params: np.ndarray,
    fields: jax.Array,
    model: FieldModel,
    grid: Grid,
    stepping: TimeStepping,
    *,
    chunk_size: int | None = None,
    device: str = "auto",
    dtype: str | None = None,
) -> PopulationResult:
    """Solve ``P`` candidates (``params`` ``(P, 3)``) from each of ``K`` initial fields (``fields``, ``(K,)`` keys
    from ``model.field_keys``) as one vmapped program over the ``P·K`` integrations.

    ``chunk_size`` counts candidates: a chunk holds ``chunk_size·K`` integrations, every field of a candidate
    in the same compiled call. Arrays come back as ``(P, K, N, N)`` (``finite`` ``(P, K)``, snapshots
    ``(P, K, S, N, N)``); ``[i, k]`` is ``solver.solve_candidate(fields[k], params[i], ...)`` up to rounding.
    """
    matrix = check_params(params)
    count, n_fields = matrix.shape[0], int(fields.shape[0])
    chunk = None if chunk_size is None else int(chunk_size) * n_fields
    flat = run_population(np.repeat(matrix, n_fields, axis=0), fields[np.tile(np.arange(n_fields), count)], model,
                          grid, stepping, chunk_size=chunk, device=device, dtype=dtype)

    def split(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else array.reshape(count, n_fields, *array.shape[1:])

    return PopulationResult(psi=split(flat.psi), rho=split(flat.rho), rho_s=split(flat.rho_s), g_tt=split(flat.g_tt),
                            finite=split(flat.finite), snapshots_rho=split(flat.snapshots_rho))
