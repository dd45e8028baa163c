"""Population chunks sized from device memory: the bytes per integration against XLA's own memory analysis of
the generation program (measured here on the CPU; the program is the one a GPU runs), and the sizing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from irer.chunking import chunk_candidates, integration_bytes, resolve_chunk_size
from irer.model import FieldModel, Grid, TimeStepping, field_keys
from irer.population import _generation_jit
from irer.solver import spectral_setup
from runlab.errors import ConfigError


def _program_bytes(grid: Grid, stepping: TimeStepping, precision: str, batch: int) -> int:
    """Temporaries plus outputs of the compiled generation program for ``batch`` integrations."""
    setup = spectral_setup(FieldModel(), grid, stepping.dt, precision)
    params = jnp.tile(jnp.array([[0.02, 0.5, 0.3]], dtype=setup.distance.dtype), (batch, 1))
    compiled = _generation_jit.lower(setup, params, field_keys(0, batch), steps=stepping.steps,
                                     snapshots=stepping.snapshots).compile()
    analysis = compiled.memory_analysis()
    return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)


@pytest.mark.parametrize("n, snapshots", [(32, 0), (64, 0), (32, 4)])
def test_bytes_per_integration_bound_what_xla_allocates(n, snapshots):
    grid, stepping = Grid(n=n), TimeStepping(dt=0.25, steps=8, snapshots=snapshots)
    measured = _program_bytes(grid, stepping, "float32", 3) - _program_bytes(grid, stepping, "float32", 2)
    modelled = integration_bytes(grid, stepping, "float32")
    assert 0.9 * modelled <= measured <= modelled, (measured, modelled)


def test_chunks_fill_half_the_free_memory_with_whole_candidates():
    per = integration_bytes(Grid(n=128), TimeStepping(), "float32")
    assert per == 128 * 128 * 88
    h200_free = 139 * 2**30
    assert chunk_candidates(h200_free, per, 8, 10**9) == int(0.5 * h200_free // (per * 8))  # about 65,000
    assert chunk_candidates(h200_free, per, 8, 16) == 16  # a generation of 16 is one call
    big = integration_bytes(Grid(n=2048), TimeStepping(), "float32")  # 369 MB an integration
    assert chunk_candidates(16 * 2**30, big, 8, 64) == 2
    with pytest.raises(ConfigError, match="more than 50% of the device"):
        chunk_candidates(2**30, big, 8, 64)


def test_auto_on_a_device_without_memory_stats_takes_the_whole_generation():
    cpu = jax.devices("cpu")[0]
    grid, stepping = Grid(n=16), TimeStepping()
    assert resolve_chunk_size("auto", cpu, grid, stepping, "float32", 8, 12) == 12
    assert resolve_chunk_size(None, cpu, grid, stepping, "float32", 8, 12) == 12
    assert resolve_chunk_size(5, cpu, grid, stepping, "float32", 8, 12) == 5
