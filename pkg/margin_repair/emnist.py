"""EMNIST on disk: the files of a split, where they are, the class mapping, and the upright images.

Semantics follow seed 000: labels absent from the mapping file are skipped, the ``max_*`` cap counts
kept images (0 means no cap), and "upright" is rotate 90° clockwise then mirror left-right, which
is the transpose of each 28×28 image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from runlab import ConfigError, sha256_file

from .idx import IMAGES_MAGIC, declared_count, iter_image_chunks, read_labels

__all__ = ["GRID", "SPLITS", "ClassMapping", "Dataset", "SplitFiles", "binarize", "canonicalize_upright", "class_counts",
           "find_data_dir", "load_dataset", "parse_mapping", "provenance", "require_files"]

GRID = 28
SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
DATA_DIR_ENV = "EMNIST_DATA_DIR"


@dataclass(frozen=True)
class SplitFiles:
    """File names of one EMNIST split, as the official archive's ``gzip/`` folder holds them."""

    split: str

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"unknown EMNIST split {self.split!r}", f"use one of {', '.join(SPLITS)}")

    @property
    def mapping(self) -> str:
        return f"emnist-{self.split}-mapping.txt"

    def images(self, part: str) -> str:
        return f"emnist-{self.split}-{part}-images-idx3-ubyte.gz"

    def labels(self, part: str) -> str:
        return f"emnist-{self.split}-{part}-labels-idx1-ubyte.gz"

    def all(self) -> list[str]:
        return [self.mapping, *(name for part in ("train", "test") for name in (self.images(part), self.labels(part)))]


@dataclass(frozen=True)
class ClassMapping:
    """Dataset labels in ascending order; class ``i`` is ``labels[i]`` and draws ``codepoints[i]``."""

    labels: tuple[int, ...]
    codepoints: tuple[int, ...]

    def class_of(self) -> np.ndarray:
        """Lookup table of 256 entries: dataset label -> class index, -1 where the label is not mapped."""
        table = np.full(256, -1, dtype=np.int64)
        table[list(self.labels)] = np.arange(len(self.labels))
        return table


@dataclass(frozen=True)
class Dataset:
    """Images ``(n, 28, 28)`` uint8 (upright if asked) and class indices ``(n,)`` int64."""

    images: np.ndarray
    classes: np.ndarray
    mapping: ClassMapping


def find_data_dir(configured: str | None, start: Path, environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """The EMNIST folder: the config's ``data_dir``, else ``$EMNIST_DATA_DIR``, else a ``gzip/`` in ``start`` or above.

    Returns the folder and how it was found.
    """
    for value, how in ((configured, "config:data_dir"), (environ.get(DATA_DIR_ENV, "").strip(), f"env:{DATA_DIR_ENV}")):
        if value:
            folder = Path(value).expanduser().resolve()
            if not folder.is_dir():
                raise ConfigError(f"EMNIST data folder {folder} (from {how}) does not exist or is not a folder",
                                  "point it at the folder holding the emnist-*.gz files")
            return folder, how
    for parent in (start.resolve(), *start.resolve().parents):
        if (parent / "gzip").is_dir():
            return (parent / "gzip").resolve(), "found:gzip_ancestor"
    raise ConfigError("no EMNIST data folder found",
                      f"set data_dir in the config or ${DATA_DIR_ENV}, or put a gzip/ folder in {start} or above")


def require_files(folder: Path, files: SplitFiles) -> None:
    """One line naming every missing file of the split, and where they belong."""
    missing = [name for name in files.all() if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"EMNIST split {files.split!r} lacks {', '.join(missing)} in {folder}",
                          "copy those files from the EMNIST gzip archive into that folder")


def parse_mapping(path: Path) -> ClassMapping:
    """Read ``<label> <codepoint>`` lines (blank and ``#`` lines skipped); duplicate labels are an error."""
    pairs: dict[int, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc}", "copy it from the EMNIST archive") from exc
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#") or len(parts) < 2:
            continue
        try:
            label, codepoint = int(parts[0]), int(parts[1])
        except ValueError as exc:
            raise ConfigError(f"{path.name} line {number}: expected two integers, got {line.strip()!r}",
                              "the mapping file is damaged") from exc
        if label in pairs:
            raise ConfigError(f"{path.name} line {number}: label {label} mapped twice", "the mapping file is damaged")
        if not 0 <= label <= 255:
            raise ConfigError(f"{path.name} line {number}: label {label} outside 0-255", "the mapping file is damaged")
        pairs[label] = codepoint
    if not pairs:
        raise ConfigError(f"{path.name} maps no labels", "the mapping file is empty or damaged")
    labels = tuple(sorted(pairs))
    return ClassMapping(labels=labels, codepoints=tuple(pairs[label] for label in labels))


def canonicalize_upright(images: np.ndarray) -> np.ndarray:
    """Rotate each ``(..., 28, 28)`` image 90° clockwise, then mirror it left-right (= transpose)."""
    return np.ascontiguousarray(np.swapaxes(images, -1, -2))


def binarize(images: np.ndarray, threshold: int) -> np.ndarray:
    """Pixels strictly above ``threshold`` are on: ``(..., 28, 28)`` bool."""
    return images > threshold


def load_dataset(folder: Path, split: str, *, part: str, cap: int, upright: bool) -> Dataset:
    """The ``train`` or ``test`` part of a split: mapped labels only, at most ``cap`` images (0: all)."""
    mapping, blocks = _mapped_blocks(folder, SplitFiles(split), part)
    kept_images, kept_classes, kept = [], [], 0
    for block, classes in blocks:
        if cap:
            block, classes = block[: cap - kept], classes[: cap - kept]
        kept_images.append(canonicalize_upright(block) if upright else block)
        kept_classes.append(classes)
        kept += len(block)
        if cap and kept >= cap:
            break
    images = np.concatenate(kept_images) if kept_images else np.zeros((0, GRID, GRID), np.uint8)
    classes = np.concatenate(kept_classes) if kept_classes else np.zeros((0,), np.int64)
    return Dataset(images=images, classes=classes, mapping=mapping)


def class_counts(folder: Path, split: str, *, part: str) -> list[int]:
    """Mapped images per class in a whole part, streamed (which also proves every file reads to its end)."""
    mapping, blocks = _mapped_blocks(folder, SplitFiles(split), part)
    counts = np.zeros(len(mapping.labels), dtype=np.int64)
    for _, classes in blocks:
        counts += np.bincount(classes, minlength=len(counts))
    return counts.tolist()


def _mapped_blocks(folder: Path, files: SplitFiles, part: str) -> tuple[ClassMapping, Iterator[tuple[np.ndarray, np.ndarray]]]:
    """The mapping, and the part's raw image blocks with their class indices, unmapped labels dropped."""
    require_files(folder, files)
    mapping = parse_mapping(folder / files.mapping)
    labels = read_labels(folder / files.labels(part))
    images_declared = declared_count(folder / files.images(part), IMAGES_MAGIC)
    if images_declared != len(labels):
        raise ConfigError(f"{files.images(part)} declares {images_declared} images but {files.labels(part)} "
                          f"has {len(labels)} labels", "the two files do not belong together")
    class_of = mapping.class_of()

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        seen = 0
        for block in iter_image_chunks(folder / files.images(part), grid=GRID):
            classes = class_of[labels[seen : seen + len(block)]]
            seen += len(block)
            yield block[classes >= 0], classes[classes >= 0]

    return mapping, blocks()


def provenance(folder: Path, files: SplitFiles, data_dir: str) -> dict[str, Any]:
    """The seed's dataset provenance with its strong hashes: every file's name and size, sha256 of each.

    ``data_dir`` is how the folder is named in the record (the seed writes the absolute path).
    """
    keys = {"mapping_txt": files.mapping, "train_images_gz": files.images("train"),
            "train_labels_gz": files.labels("train"), "test_images_gz": files.images("test"),
            "test_labels_gz": files.labels("test")}
    entries = {key: {"name": name, "bytes": (folder / name).stat().st_size} for key, name in keys.items()}
    for key, name in keys.items():
        if key != "mapping_txt":
            entries[key]["sha256"] = sha256_file(folder / name)
    return {"split": files.split, "data_dir": data_dir, "files": entries,
            "mapping_sha256": sha256_file(folder / files.mapping), "strong_hashes_included": True}
