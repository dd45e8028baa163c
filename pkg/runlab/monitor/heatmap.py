"""A 2-D dataset of an HDF5 artifact rendered on the server as a PNG heatmap, downsampled for large grids.

A grid ``(H, W)`` is reduced by block means with one factor ``k = ceil(max(H, W) / max_px)`` on both
axes (aspect kept; edge blocks average the cells they have; non-finite cells are left out of a
block's mean), so the image is ``(ceil(H / k), ceil(W / k))`` pixels, at most ``max_px`` a side.
Values are scaled linearly between the finite minimum and maximum of the reduced grid onto 255
colours of a matplotlib colour map (``matplotlib.colormaps[name]``, sampled once into a lookup
table); a block with no finite cell is grey. Row 0 of the grid is the bottom row of the image, as
``imshow(origin="lower")`` draws it in the studies' figures. The PNG is an 8-bit palette image from
Pillow (no timestamps), so its bytes depend on the grid, ``max_px`` and the colour map only;
``python -m bench.monitor`` measures it against RGB(A) PNGs from Pillow or ``matplotlib.image.imsave`` and
pyplot's ``imshow`` + ``savefig``.

Nothing from outside the file: the dataset is reached through hard links only (an external or soft
link is refused), and a dataset whose data lives elsewhere (external storage, a virtual dataset) is
refused, each with the reason (:class:`OutsideFile`).

Memory is bounded whatever the dataset's shape and compression: the grid is read in tiles of whole
chunks, at most ``TILE_CELLS`` cells (or one chunk, when a chunk is larger), converted to float64 by
HDF5 into one reused buffer, and summed into the blocks as it goes. A chunk above ``MAX_CHUNK_CELLS``
(HDF5 decompresses a whole chunk to read any cell of it) or a grid above ``MAX_GRID_CELLS`` is refused
(:class:`TooLarge`), and at most ``RENDERS_AT_ONCE`` renders run at a time. So a render adds under
``RENDER_LIMIT_MIB`` to the process whatever the grid (``python -m bench.monitor`` measures a 16000×16000
compressed grid: 50 to 100 MiB at 512 px, 155 MiB at 2048 px), and heatmaps hold at most
``RENDERS_AT_ONCE`` × that plus the cache of ``_CACHE_ENTRIES`` PNGs (each at most 4 MiB).
"""

from __future__ import annotations

import functools
import io
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import h5py

__all__ = ["COLORMAPS", "DEFAULT_MAX_PX", "MAX_CHUNK_CELLS", "MAX_GRID_CELLS", "RENDERS_AT_ONCE", "RENDER_LIMIT_MIB",
           "TILE_CELLS", "Heatmap",
           "NotAGrid", "OutsideFile", "TooLarge", "block_mean", "colorbar_png", "grid_png", "heatmap_of"]

DEFAULT_MAX_PX = 512
MAX_PX_RANGE = (16, 2048)
COLORMAPS = ("magma", "viridis", "inferno", "plasma", "cividis", "gray", "RdBu_r", "coolwarm")
_BAD_RGB = (128, 128, 128)  # palette entry 255: blocks with no finite value
_ZLIB_LEVEL = 6
_CACHE_ENTRIES = 32
MAX_GRID_CELLS = 1 << 28  # 16384²: reading more would take minutes
MAX_CHUNK_CELLS = 1 << 22  # 2048²: 32 MiB as float64
TILE_CELLS = 1 << 20  # 1024²: 8 MiB as float64
RENDERS_AT_ONCE = 2
RENDER_LIMIT_MIB = 256  # stated, and checked by python -m bench.monitor
_RENDERS = threading.BoundedSemaphore(RENDERS_AT_ONCE)  # every caller: the app's route and the study pages


class NotAGrid(Exception):
    """The dataset asked for is absent, or not a real numeric 2-D array with both sides >= 2."""


class OutsideFile(NotAGrid):
    """The dataset is reached through a link, or stored outside its HDF5 file: the monitor does not read it."""


class TooLarge(NotAGrid):
    """The grid, or one chunk of it, is above the monitor's limits (``MAX_GRID_CELLS``, ``MAX_CHUNK_CELLS``)."""


@dataclass(frozen=True)
class Heatmap:
    """A rendered grid: PNG bytes, the grid's shape, the image's ``(rows, columns)`` and the value range
    the colours span (None when the grid has no finite value)."""

    png: bytes
    grid_shape: tuple[int, int]
    image_shape: tuple[int, int]
    low: float | None
    high: float | None
    units: str | None = None  # the dataset's ``units`` attribute, when it has one


def block_mean(grid: np.ndarray, max_px: int) -> np.ndarray:
    """``grid`` (H, W) reduced to at most ``max_px`` a side by the mean of ``k``×``k`` blocks
    (``k = ceil(max(H, W) / max_px)``), non-finite cells left out; float64 ``(ceil(H/k), ceil(W/k))``."""
    sums = _BlockSums(grid.shape, max_px)
    sums.add(np.asarray(grid, dtype=np.float64), 0, 0)
    return sums.means()


class _BlockSums:
    """Sums and counts of the finite cells of each ``k``×``k`` block of an (H, W) grid, fed tile by tile."""

    def __init__(self, shape: tuple[int, ...], max_px: int) -> None:
        rows, columns = shape
        self.factor = max(1, -(-max(rows, columns) // max_px))
        blocks = (-(-rows // self.factor), -(-columns // self.factor))
        self.sums = np.zeros(blocks)
        self.counts = np.zeros(blocks, dtype=np.int32)  # a block has at most 1024² cells (MAX_GRID_CELLS)

    def add(self, tile: np.ndarray, row0: int, column0: int) -> None:
        """Add ``tile`` (float64, (h, w)): the cells ``[row0:row0 + h, column0:column0 + w]`` of the grid."""
        finite = np.isfinite(tile)
        row_starts, column_starts = (self._starts(first, length) for first, length in zip((row0, column0), tile.shape))
        sums = np.add.reduceat(np.add.reduceat(np.where(finite, tile, 0.0), row_starts, axis=0), column_starts, axis=1)
        counts = np.add.reduceat(np.add.reduceat(finite, row_starts, axis=0, dtype=np.int32), column_starts, axis=1)
        block_row, block_column = row0 // self.factor, column0 // self.factor
        where = np.s_[block_row:block_row + sums.shape[0], block_column:block_column + sums.shape[1]]
        self.sums[where] += sums
        self.counts[where] += counts

    def _starts(self, first: int, length: int) -> np.ndarray:
        """Offsets in a tile of ``length`` cells from grid index ``first`` where a block starts (0 first)."""
        next_block = -first % self.factor
        return np.unique(np.r_[0, np.arange(next_block, length, self.factor)])

    def means(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / self.counts, np.nan)


@functools.lru_cache(maxsize=len(COLORMAPS))
def _palette(colormap: str) -> bytes:
    """PLTE bytes: 255 colours of ``colormap`` from low to high, then the grey of non-finite blocks."""
    import matplotlib

    rgba = matplotlib.colormaps[colormap](np.linspace(0.0, 1.0, 255))
    rgb = np.round(rgba[:, :3] * 255).astype(np.uint8)
    return rgb.tobytes() + bytes(_BAD_RGB)


def grid_png(grid: np.ndarray, *, max_px: int = DEFAULT_MAX_PX, colormap: str = "viridis") -> Heatmap:
    """The heatmap of ``grid`` (real, (H, W)) as described in the module docstring."""
    return _heatmap(block_mean(grid, max_px), (int(grid.shape[0]), int(grid.shape[1])), colormap)


def _heatmap(reduced: np.ndarray, grid_shape: tuple[int, int], colormap: str) -> Heatmap:
    """The heatmap of a grid of ``grid_shape`` whose block means are ``reduced``."""
    if colormap not in COLORMAPS:
        raise ValueError(f"colour map {colormap!r} is not one of {COLORMAPS}")
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
    return Heatmap(png, grid_shape, reduced.shape, low, high)


def _png_bytes(indices: np.ndarray, palette: bytes) -> bytes:
    """An 8-bit palette PNG of ``indices`` (rows top to bottom) coloured by ``palette`` (PLTE bytes)."""
    image = Image.fromarray(np.ascontiguousarray(indices))
    image.putpalette(palette)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=_ZLIB_LEVEL)
    return buffer.getvalue()


@functools.lru_cache(maxsize=len(COLORMAPS))
def colorbar_png(colormap: str) -> bytes:
    """The colour bar of ``colormap`` as the heatmaps use it: its 255 colours from low (left) to high (right),
    each 1 px wide and 12 px high."""
    if colormap not in COLORMAPS:
        raise ValueError(f"colour map {colormap!r} is not one of {COLORMAPS}")
    return _png_bytes(np.tile(np.arange(255, dtype=np.uint8), (12, 1)), _palette(colormap))


def _dataset(h5: "h5py.File", name: str, file_name: str) -> "h5py.Dataset":
    """Dataset ``name`` (a relative path) of the open file ``h5``, reached through hard links only, with its
    data in the file, a real numeric 2-D grid within the limits; NotAGrid or a subclass otherwise."""
    import h5py

    where = f"dataset {name!r} of {file_name}"
    parts = name.split("/")
    node = h5
    for depth, part in enumerate(parts):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) and part not in ("", ".") else None
        if link is None:
            raise NotAGrid(f"{file_name} has no dataset {name!r}")
        reached = "/".join(parts[: depth + 1])
        if isinstance(link, h5py.ExternalLink):
            raise OutsideFile(f"{where} is not read: {reached!r} is an external link to {link.filename}:{link.path}; "
                              "the monitor reads nothing outside the runs root")
        if not isinstance(link, h5py.HardLink):
            raise OutsideFile(f"{where} is not read: {reached!r} is a {type(link).__name__} (links are not followed)")
        node = node[part]
    if not isinstance(node, h5py.Dataset):
        raise NotAGrid(f"{file_name} has no dataset {name!r}")
    if node.is_virtual:
        raise OutsideFile(f"{where} is not read: it is a virtual dataset (its data lives in other files); "
                          "the monitor reads nothing outside the runs root")
    if node.external:
        raise OutsideFile(f"{where} is not read: its data is stored externally in {node.external[0][0]!r}; "
                          "the monitor reads nothing outside the runs root")
    if node.ndim != 2 or node.dtype.kind not in "fiu" or min(node.shape) < 2:
        raise NotAGrid(f"{where} is not a 2-D numeric grid ({node.dtype}, shape {node.shape})")
    if node.size > MAX_GRID_CELLS:
        raise TooLarge(f"{where} has {node.shape[0]}x{node.shape[1]} cells, above the monitor's limit of "
                       f"{MAX_GRID_CELLS:,} (16384x16384)")
    if node.chunks and np.prod(node.chunks) > MAX_CHUNK_CELLS:
        raise TooLarge(f"{where} is stored in chunks of {node.chunks[0]}x{node.chunks[1]} cells, above the monitor's "
                       f"limit of {MAX_CHUNK_CELLS:,} (2048x2048): HDF5 decompresses a whole chunk to read any cell")
    return node


def _tile_shape(shape: tuple[int, int], chunks: tuple[int, int] | None) -> tuple[int, int]:
    """Rows and columns of a read: whole chunks (cells for a contiguous dataset), at most ``TILE_CELLS`` cells
    unless one chunk is more, widest first (rows are contiguous on disk)."""
    rows, columns = shape
    chunk_rows, chunk_columns = chunks or (1, 1)
    tile_columns = min(columns, chunk_columns * max(1, TILE_CELLS // (chunk_rows * chunk_columns)))
    tile_rows = min(rows, chunk_rows * max(1, TILE_CELLS // (chunk_rows * tile_columns)))
    return tile_rows, tile_columns


def _read_block_means(node: "h5py.Dataset", max_px: int) -> np.ndarray:
    """The block means of ``node`` (see ``block_mean``), read tile by tile into one float64 buffer."""
    rows, columns = node.shape
    sums = _BlockSums(node.shape, max_px)
    tile_rows, tile_columns = _tile_shape(node.shape, node.chunks)
    buffer = np.empty((tile_rows, tile_columns))
    for row0 in range(0, rows, tile_rows):
        for column0 in range(0, columns, tile_columns):
            height, width = min(tile_rows, rows - row0), min(tile_columns, columns - column0)
            node.read_direct(buffer, np.s_[row0:row0 + height, column0:column0 + width], np.s_[:height, :width])
            sums.add(buffer[:height, :width], row0, column0)
    return sums.means()


def _read_heatmap(path: Path, dataset: str, max_px: int, colormap: str) -> Heatmap:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            node = _dataset(h5, dataset, path.name)
            rendered = _heatmap(_read_block_means(node, max_px), (int(node.shape[0]), int(node.shape[1])), colormap)
            units = node.attrs.get("units")
            units = units.decode("utf-8", "replace") if isinstance(units, bytes) else units
            return replace(rendered, units=units[:100]) if isinstance(units, str) else rendered
    except OSError as exc:  # not HDF5, or a chunk that does not decompress (a filter that is not installed)
        first_line = (str(exc) or type(exc).__name__).splitlines()[0]
        raise NotAGrid(f"{path.name} is not a readable HDF5 file ({first_line})") from exc


def heatmap_of(path: Path, dataset: str, *, max_px: int = DEFAULT_MAX_PX, colormap: str = "viridis") -> Heatmap:
    """The heatmap of ``dataset`` in the HDF5 file at ``path``, kept in a small cache keyed by the file's
    (path, mtime_ns, size): indexed artifacts are never rewritten, so a page and its image share one render."""
    stat = os.stat(path)
    return _render(str(path), stat.st_mtime_ns, stat.st_size, dataset, max_px, colormap)


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _render(path: str, mtime_ns: int, size: int, dataset: str, max_px: int, colormap: str) -> Heatmap:
    """The heatmap of the dataset, for one version (``mtime_ns``, ``size``) of the file at ``path``."""
    with _RENDERS:
        return _read_heatmap(Path(path), dataset, max_px, colormap)
