"""How many candidates one compiled call holds: ``irer.execution.chunk_size``, or with ``auto`` as many as fit
in half of the device's free memory.

One integration needs ``BYTES_PER_POINT`` bytes per grid point on the device (its state, the ETDRK4
stages and FFT buffers XLA keeps as temporaries, its outputs; the spectral coefficients are shared by the
chunk), plus 8 bytes per point per snapshot (16 in float64: the kept |psi|² and its copy out of the
loop). The constants are XLA's own memory analysis of the generation program (``memory_analysis()`` of
the compiled program: temporaries plus outputs, the difference between batches of 2 and 1), which
``tests/irer/test_chunking.py`` measures again on the CPU; the program is the one a GPU compiles. A device that reports no memory (the CPU) takes the whole
generation in one call, as ``chunk_size: null`` does.
"""

from __future__ import annotations

import math

import jax

from runlab import ConfigError

from .model import Grid, TimeStepping

__all__ = ["BYTES_PER_POINT", "HEADROOM", "chunk_candidates", "device_free_bytes", "integration_bytes",
           "resolve_chunk_size"]

BYTES_PER_POINT = {"float32": 88, "float64": 176}
"""Device bytes per grid point of one integration (measured 85 and 170 at N = 64, rounded up)."""

HEADROOM = 0.5
"""Share of the device's free memory a chunk may take (the rest: XLA's workspace, fragmentation, other buffers)."""


def integration_bytes(grid: Grid, stepping: TimeStepping, precision: str) -> int:
    """Device bytes one integration adds to a chunk: ``N²·(BYTES_PER_POINT + 2·S·itemsize)``."""
    if precision not in BYTES_PER_POINT:
        raise ConfigError(f"irer precision {precision!r} has no memory model", "use float32 or float64")
    itemsize = 4 if precision == "float32" else 8
    return grid.n * grid.n * (BYTES_PER_POINT[precision] + 2 * stepping.snapshots * itemsize)


def device_free_bytes(device: jax.Device) -> int | None:
    """Free bytes the device reports (``bytes_limit - bytes_in_use`` of ``memory_stats``), None when it reports none."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def chunk_candidates(free_bytes: int, per_integration: int, fields: int, population: int) -> int:
    """Candidates per call: as many whole candidates (``fields`` integrations each) as fit in ``HEADROOM`` of
    ``free_bytes``, at most ``population``; at least 1, or a ConfigError when not even one fits."""
    fitting = math.floor(HEADROOM * free_bytes / (per_integration * fields))
    if fitting < 1:
        raise ConfigError(f"one candidate's {fields} integrations need {per_integration * fields / 2**30:.2f} GiB, "
                          f"more than {HEADROOM:.0%} of the device's {free_bytes / 2**30:.2f} GiB free",
                          "use a smaller grid, fewer initial fields, float32, or a device with more memory")
    return min(fitting, population)


def resolve_chunk_size(chunk_size: int | str | None, device: jax.Device, grid: Grid, stepping: TimeStepping,
                       precision: str, fields: int, population: int) -> int:
    """The configured ``chunk_size`` as a candidate count for ``population`` candidates (None: all at once;
    ``auto``: sized from ``device``'s free memory, all at once where it reports none)."""
    if chunk_size is None:
        return max(1, population)
    if chunk_size != "auto":
        return int(chunk_size)
    free = device_free_bytes(device)
    if free is None:
        return max(1, population)
    return chunk_candidates(free, integration_bytes(grid, stepping, precision), fields, max(1, population))
