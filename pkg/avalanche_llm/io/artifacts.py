"""Reading what upstream phases wrote, through runlab's hash-checked ``RunView``, and the raster files.

A raster file (``data/<name>.h5``) holds, for each raster, the datasets ``<key>/times``,
``<key>/units``, ``<key>/n_units`` and ``<key>/bounds`` (``Raster.to_arrays``, read back with
``Raster.from_arrays``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import h5py
import numpy as np
import pyarrow.parquet as pq

from runlab import RunView

from ..raster.build import Raster

__all__ = ["raster_arrays", "read_hdf5", "read_json", "read_parquet", "read_rows"]


def read_parquet(view: RunView, relative_path: str) -> dict[str, list[Any]]:
    """Columns of a parquet artifact, as lists."""
    return pq.read_table(view.artifact_path(relative_path)).to_pydict()


def read_rows(view: RunView, relative_path: str) -> list[dict[str, Any]]:
    """Rows of a parquet artifact, each a mapping of column to value."""
    return pq.read_table(view.artifact_path(relative_path)).to_pylist()


def read_json(view: RunView, relative_path: str) -> Any:
    return json.loads(view.read_bytes(relative_path))


def read_hdf5(view: RunView, relative_path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every dataset (by its full path, without the leading /) and the root attributes."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(view.artifact_path(relative_path), "r") as h5:
        h5.visititems(lambda name, node: arrays.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None)
        attrs = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in h5.attrs.items()}
    return arrays, attrs


def raster_arrays(rasters: Mapping[str, Raster]) -> dict[str, np.ndarray]:
    """The datasets of a raster file holding ``rasters`` by key."""
    arrays: dict[str, np.ndarray] = {}
    for key, raster in rasters.items():
        arrays.update(raster.to_arrays(key))
    return arrays

