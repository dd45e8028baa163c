"""A 2-D dataset of an HDF5 artifact rendered on the server as a PNG heatmap, downsampled for large grids.

A grid ``(H, W)`` is reduced by block means with one factor ``k = ceil(max(H, W) / max_px)`` on both
axes (aspect kept; edge blocks average the cells they have; non-finite cells are left out of a
block's mean), so the image is ``(ceil(H / k), ceil(W / k))`` pixels, at most ``max_px`` a side.
Values are scaled linearly between the finite minimum and maximum of the reduced grid onto 255
colours of a matplotlib colour map (``matplotlib.colormaps[name]``, sampled once into a lookup
table); a block with no finite cell is grey. Row 0 of the grid is the bottom row of the image, as
``imshow(origin="lower")`` draws it in the studies' figures. The PNG is an 8-bit palette image from
Pillow (no timestamps), so its bytes depend on the grid, ``max_px`` and the colour map only;
``bench/monitor.py`` measures it against RGB(A) PNGs from Pillow or ``matplotlib.image.imsave`` and
pyplot's ``imshow`` + ``savefig``.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["COLORMAPS", "DEFAULT_MAX_PX", "Heatmap", "NotAGrid", "block_mean", "grid_png", "heatmap_of"]

DEFAULT_MAX_PX = 512
MAX_PX_RANGE = (16, 2048)
COLORMAPS = ("magma", "viridis", "inferno", "plasma", "cividis", "gray", "RdBu_r", "coolwarm")
_BAD_RGB = (128, 128, 128)  # palette entry 255: blocks with no finite value
_ZLIB_LEVEL = 6
_CACHE_ENTRIES = 32


class NotAGrid(Exception):
    """The dataset asked for is absent, or not a real numeric 2-D array with both sides >= 2."""


@dataclass(frozen=True)
class Heatmap:
    """A rendered grid: PNG bytes, the grid's shape, the image's ``(rows, columns)`` and the value range
    the colours span (None when the grid has no finite value)."""

    png: bytes
    grid_shape: tuple[int, int]
    image_shape: tuple[int, int]
    low: float | None
    high: float | None


def block_mean(grid: np.ndarray, max_px: int) -> np.ndarray:
    """``grid`` (H, W) reduced to at most ``max_px`` a side by the mean of ``k``×``k`` blocks
    (``k = ceil(max(H, W) / max_px)``), non-finite cells left out; float64 ``(ceil(H/k), ceil(W/k))``."""
    rows, columns = grid.shape
    factor = max(1, -(-max(rows, columns) // max_px))
    values = np.asarray(grid, dtype=np.float64)
    if factor == 1:
        return values.copy()
    out_rows, out_columns = -(-rows // factor), -(-columns // factor)
    padded = np.zeros((out_rows * factor, out_columns * factor))
    counts = np.zeros_like(padded)
    finite = np.isfinite(values)
    padded[:rows, :columns] = np.where(finite, values, 0.0)
    counts[:rows, :columns] = finite
    shape = (out_rows, factor, out_columns, factor)
    sums = padded.reshape(shape).sum(axis=(1, 3))
    numbers = counts.reshape(shape).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(numbers > 0, sums / numbers, np.nan)


@functools.lru_cache(maxsize=len(COLORMAPS))
def _palette(colormap: str) -> bytes:
    """PLTE bytes: 255 colours of ``colormap`` from low to high, then the grey of non-finite blocks."""
    import matplotlib

    rgba = matplotlib.colormaps[colormap](np.linspace(0.0, 1.0, 255))
    rgb = np.round(rgba[:, :3] * 255).astype(np.uint8)
    return rgb.tobytes() + bytes(_BAD_RGB)


def grid_png(grid: np.ndarray, *, max_px: int = DEFAULT_MAX_PX, colormap: str = "viridis") -> Heatmap:
    """The heatmap of ``grid`` (real, (H, W)) as described in the module docstring."""
    if colormap not in COLORMAPS:
        raise ValueError(f"colour map {colormap!r} is not one of {COLORMAPS}")
    reduced = block_mean(grid, max_px)
    finite = np.isfinite(reduced)
    low = high = None
    indices = np.full(reduced.shape, 255, dtype=np.uint8)
    if finite.any():
        low, high = float(reduced[finite].min()), float(reduced[finite].max())
        span = high - low
        scaled = (reduced - low) * (254.0 / span) if span > 0 else np.full(reduced.shape, 127.0)
        np.rint(scaled, out=scaled, where=finite)
        indices[finite] = scaled[finite].astype(np.uint8)
    png = _png_bytes(indices[::-1], _palette(colormap))
    return Heatmap(png, (int(grid.shape[0]), int(grid.shape[1])), reduced.shape, low, high)


def _png_bytes(indices: np.ndarray, palette: bytes) -> bytes:
    """An 8-bit palette PNG of ``indices`` (rows top to bottom) coloured by ``palette`` (PLTE bytes)."""
    image = Image.fromarray(np.ascontiguousarray(indices))
    image.putpalette(palette)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=_ZLIB_LEVEL)
    return buffer.getvalue()


def read_grid(path: Path, dataset: str) -> np.ndarray:
    """Dataset ``dataset`` of the HDF5 file at ``path`` if it is a real numeric 2-D grid (NotAGrid otherwise)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            node = h5.get(dataset) if dataset and not dataset.startswith("/") else None
            if not isinstance(node, h5py.Dataset):
                raise NotAGrid(f"{path.name} has no dataset {dataset!r}")
            if node.ndim != 2 or node.dtype.kind not in "fiu" or min(node.shape) < 2:
                raise NotAGrid(f"dataset {dataset!r} of {path.name} is not a 2-D numeric grid "
                               f"({node.dtype}, shape {node.shape})")
            return node[()]
    except OSError as exc:
        raise NotAGrid(f"{path.name} is not a readable HDF5 file") from exc


def heatmap_of(path: Path, dataset: str, *, max_px: int = DEFAULT_MAX_PX, colormap: str = "viridis") -> Heatmap:
    """The heatmap of ``dataset`` in the HDF5 file at ``path``, kept in a small cache keyed by the file's
    (path, mtime_ns, size): indexed artifacts are never rewritten, so a page and its image share one render."""
    stat = os.stat(path)
    return _render(str(path), stat.st_mtime_ns, stat.st_size, dataset, max_px, colormap)


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _render(path: str, mtime_ns: int, size: int, dataset: str, max_px: int, colormap: str) -> Heatmap:
    """``grid_png`` of the dataset, for one version (``mtime_ns``, ``size``) of the file at ``path``."""
    return grid_png(read_grid(Path(path), dataset), max_px=max_px, colormap=colormap)
