"""Names of the per-gain artifacts (the S02 raster files, the shards of the phase-6 fan-outs) and of a
layer's raster inside a raster file. Light on imports: the monitor finds a sweep's gains by these names."""

from __future__ import annotations

__all__ = ["gain_raster_name", "layer_key", "per_gain_name"]


def per_gain_name(stem: str, index: int) -> str:
    """The artifact name of ``stem`` for the ``index``-th swept gain (position in ``gain.values``)."""
    return f"{stem}_gain{index:02d}"


def gain_raster_name(index: int) -> str:
    """The raster file of the ``index``-th swept gain is ``data/<name>.h5``."""
    return per_gain_name("rasters", index)


def layer_key(layer: int) -> str:
    return f"layer{layer:02d}"
