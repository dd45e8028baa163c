"""The data set behind the golden hashes: a small EMNIST-format digits split made from a fixed recipe.

The recipe and the IDX gzip writing are deliberately written out here rather than borrowed from
the package, so that the golden hashes (the certificate's include every file's sha256) pin the
repair, not the package's writers.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from margin_repair.emnist import GRID, SplitFiles

CLASSES = 10


def write_golden_split(folder: Path, *, n_train: int = 600, n_test: int = 300, seed: int = 2026) -> None:
    """Digits split: one random blob template per class, shifted by up to 2 px, with grey noise.

    Labels cycle through 0-9 plus label 11, which the mapping omits (the reader must skip it).
    Images are stored transposed, as EMNIST stores them.
    """
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(CLASSES, GRID, GRID)) * (rng.random((CLASSES, GRID, GRID)) < 0.25)
    files = SplitFiles("digits")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / files.mapping).write_text("".join(f"{label} {48 + label}\n" for label in range(CLASSES)))
    for part, count in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, CLASSES + 2, size=count)
        labels[labels == CLASSES] = 0
        shifts = rng.integers(-2, 3, size=(count, 2))
        noise = rng.integers(0, 256, size=(count, GRID, GRID)) * (rng.random((count, GRID, GRID)) < 0.08)
        images = np.empty((count, GRID, GRID), dtype=np.uint8)
        for index in range(count):
            template = templates[labels[index] % CLASSES]
            upright = np.roll(template, tuple(shifts[index]), axis=(0, 1))
            images[index] = np.maximum(upright, noise[index]).T
        _write_gzip(folder / files.images(part), struct.pack(">4I", 2051, count, GRID, GRID) + images.tobytes())
        _write_gzip(folder / files.labels(part), struct.pack(">2I", 2049, count) + labels.astype(np.uint8).tobytes())


def _write_gzip(path: Path, payload: bytes) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
        out.write(payload)
