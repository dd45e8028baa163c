"""IDX files (the MNIST/EMNIST container), gzip-compressed: validated streaming reads and deterministic writes.

Images are ``magic 2051, count, rows, cols`` then ``count*rows*cols`` bytes; labels are ``magic 2049,
count`` then ``count`` bytes; all integers big-endian uint32.
"""

from __future__ import annotations

import gzip
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from runlab import ConfigError

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "IdxHeader", "declared_count", "iter_image_chunks", "read_header", "read_images",
           "read_labels", "write_images", "write_labels"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_CHUNK_ITEMS = 8192


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX file declares: its magic, item count and, for images, rows and columns."""

    magic: int
    count: int
    rows: int = 1
    cols: int = 1


def read_header(handle: BinaryIO, path: Path, magic: int) -> IdxHeader:
    """Read and check the header of an open IDX stream whose magic must be ``magic``."""
    fields = 4 if magic == IMAGES_MAGIC else 2
    raw = handle.read(4 * fields)
    if len(raw) != 4 * fields:
        raise ConfigError(f"{path.name}: truncated IDX header ({len(raw)} of {4 * fields} bytes)",
                          "the file is damaged; download it again")
    values = struct.unpack(f">{fields}I", raw)
    if values[0] != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise ConfigError(f"{path.name}: IDX magic {values[0]}, expected {magic} for {kind}",
                          "is this an EMNIST file of the right kind?")
    return IdxHeader(*values)


def declared_count(path: Path, magic: int) -> int:
    """The item count in the header of an IDX file (images or labels by ``magic``)."""
    with _open(path) as handle:
        return read_header(handle, path, magic).count


def iter_image_chunks(path: Path, *, grid: int) -> Iterator[np.ndarray]:
    """Stream ``(k, grid, grid)`` uint8 blocks of an images file; checks size and length."""
    with _open(path) as handle:
        header = read_header(handle, path, IMAGES_MAGIC)
        if (header.rows, header.cols) != (grid, grid):
            raise ConfigError(f"{path.name}: images are {header.rows}x{header.cols}, expected {grid}x{grid}",
                              "use EMNIST files")
        yield from _chunks(handle, path, header.count, grid * grid, (grid, grid))


def read_images(path: Path, *, grid: int) -> np.ndarray:
    """All images of a file as ``(count, grid, grid)`` uint8."""
    blocks = list(iter_image_chunks(path, grid=grid))
    return np.concatenate(blocks) if blocks else np.zeros((0, grid, grid), np.uint8)


def read_labels(path: Path) -> np.ndarray:
    """All labels of a file as ``(count,)`` uint8."""
    with _open(path) as handle:
        header = read_header(handle, path, LABELS_MAGIC)
        blocks = list(_chunks(handle, path, header.count, 1, ()))
    return np.concatenate(blocks) if blocks else np.zeros((0,), np.uint8)


def write_images(path: Path, images: np.ndarray) -> None:
    """Write ``(count, rows, cols)`` uint8 images as gzipped IDX; same array, same bytes."""
    images = np.asarray(images, dtype=np.uint8)
    count, rows, cols = images.shape
    _write(path, struct.pack(">4I", IMAGES_MAGIC, count, rows, cols),
           (images[start : start + _CHUNK_ITEMS].tobytes() for start in range(0, count, _CHUNK_ITEMS)))


def write_labels(path: Path, labels: np.ndarray) -> None:
    """Write ``(count,)`` uint8 labels as gzipped IDX."""
    labels = np.asarray(labels, dtype=np.uint8)
    _write(path, struct.pack(">2I", LABELS_MAGIC, labels.shape[0]), [labels.tobytes()])


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """Open a gzipped IDX file; gzip and I/O failures inside the block become one-line ConfigErrors."""
    try:
        with gzip.open(path, "rb") as handle:
            yield handle
    except FileNotFoundError as exc:
        raise ConfigError(f"missing file {path}", "put the EMNIST files in the data folder") from exc
    except (OSError, EOFError) as exc:  # bad CRC, truncated stream, not gzip at all
        raise ConfigError(f"{path.name}: not a readable gzip file ({exc})", "the file is damaged; download it again") from exc


def _chunks(handle: BinaryIO, path: Path, count: int, item_bytes: int, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    remaining = count
    while remaining:
        items = min(remaining, _CHUNK_ITEMS)
        raw = handle.read(items * item_bytes)
        if len(raw) != items * item_bytes:
            done = count - remaining + len(raw) // item_bytes
            raise ConfigError(f"{path.name}: truncated: header declares {count} items, file holds {done}",
                              "the file is damaged; download it again")
        yield np.frombuffer(raw, np.uint8).reshape((items, *shape))
        remaining -= items
    if handle.read(1):
        raise ConfigError(f"{path.name}: bytes after the {count} items the header declares",
                          "the file is damaged; download it again")


def _write(path: Path, header: bytes, blocks: Iterable[bytes]) -> None:
    """Gzip at level 6 (level 9 is 15x slower on these mostly-black images for a few % of size)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as handle:
        handle.write(header)
        for block in blocks:
            handle.write(block)
