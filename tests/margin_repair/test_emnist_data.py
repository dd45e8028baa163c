"""EMNIST files written by the tests: reading, upright canonicalization, caps, discovery and bad files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from margin_repair.emnist import (
    GRID, SplitFiles, binarize, canonicalize_upright, class_counts, find_data_dir, load_dataset, parse_mapping, provenance,
)
from margin_repair.idx import read_images, read_labels, write_images, write_labels
from runlab.errors import ConfigError

MAPPED = list(range(10))
UNMAPPED = 11  # present in the label file, absent from the mapping: skipped, as the seed does


def write_split(folder: Path, seed: int = 0, train: int = 50, test: int = 20, split: str = "digits") -> dict:
    """A small EMNIST-format split: random images, labels 0-9 plus some unmapped ones."""
    rng = np.random.default_rng(seed)
    files = SplitFiles(split)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / files.mapping).write_text("".join(f"{label} {48 + label}\n" for label in MAPPED))
    data = {}
    for part, count in (("train", train), ("test", test)):
        images = rng.integers(0, 256, size=(count, GRID, GRID), dtype=np.uint8)
        labels = rng.choice(MAPPED + [UNMAPPED], size=count).astype(np.uint8)
        write_images(folder / files.images(part), images)
        write_labels(folder / files.labels(part), labels)
        data[part] = (images, labels)
    return data


def seed_semantics(images: np.ndarray, labels: np.ndarray, cap: int) -> tuple[list[bytes], list[int]]:
    """Seed 000's stream, restated with plain loops: skip unmapped labels, rotate CW, mirror, cap kept images."""
    kept_images, kept_classes = [], []
    for image, label in zip(images, labels):
        if int(label) not in MAPPED:
            continue
        flat = image.tobytes()
        rotated = bytearray(GRID * GRID)
        for r in range(GRID):
            for c in range(GRID):
                rotated[c * GRID + (GRID - 1 - r)] = flat[r * GRID + c]
        mirrored = b"".join(bytes(rotated[r * GRID:(r + 1) * GRID])[::-1] for r in range(GRID))
        kept_images.append(mirrored)
        kept_classes.append(MAPPED.index(int(label)))
        if cap and len(kept_images) >= cap:
            break
    return kept_images, kept_classes


@pytest.mark.parametrize("cap", [0, 7, 1000])
def test_loaded_split_matches_the_seed_semantics(tmp_path, cap):
    data = write_split(tmp_path)
    dataset = load_dataset(tmp_path, "digits", part="train", cap=cap, upright=True)
    images, classes = seed_semantics(*data["train"], cap=cap)
    assert [image.tobytes() for image in dataset.images] == images
    assert dataset.classes.tolist() == classes
    assert dataset.images.dtype == np.uint8 and dataset.classes.dtype == np.int64
    assert dataset.mapping.codepoints == tuple(48 + label for label in MAPPED)


def test_raw_orientation_and_binarization(tmp_path):
    data = write_split(tmp_path)
    raw = load_dataset(tmp_path, "digits", part="test", cap=0, upright=False)
    mapped = np.isin(data["test"][1], MAPPED)
    assert np.array_equal(raw.images, data["test"][0][mapped])
    assert np.array_equal(canonicalize_upright(raw.images), raw.images.transpose(0, 2, 1))
    assert np.array_equal(binarize(raw.images, 127), raw.images >= 128)


def test_written_files_are_deterministic_and_read_back(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_split(first, seed=3)
    write_split(second, seed=3)
    files = SplitFiles("digits")
    for name in files.all():
        assert (first / name).read_bytes() == (second / name).read_bytes()
    images = read_images(first / files.images("train"), grid=GRID)
    assert images.shape == (50, GRID, GRID) and read_labels(first / files.labels("train")).shape == (50,)
    record = provenance(first, files, str(first))
    assert [entry["name"] for entry in record["files"].values()] == files.all()
    assert record["files"]["train_images_gz"]["sha256"] == hashlib.sha256(
        (first / files.images("train")).read_bytes()).hexdigest()
    assert record["mapping_sha256"] == hashlib.sha256((first / files.mapping).read_bytes()).hexdigest()
    assert record["files"]["test_labels_gz"]["bytes"] == (first / files.labels("test")).stat().st_size


def test_data_folder_discovery_order(tmp_path):
    (tmp_path / "gzip").mkdir()
    (tmp_path / "env").mkdir()
    (tmp_path / "configured").mkdir()
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_data_dir(str(tmp_path / "configured"), nested, {"EMNIST_DATA_DIR": str(tmp_path / "env")}) == (
        tmp_path / "configured", "config:data_dir")
    assert find_data_dir(None, nested, {"EMNIST_DATA_DIR": str(tmp_path / "env")}) == (
        tmp_path / "env", "env:EMNIST_DATA_DIR")
    assert find_data_dir(None, nested, {}) == (tmp_path / "gzip", "found:gzip_ancestor")
    with pytest.raises(ConfigError, match="does not exist"):
        find_data_dir(None, nested, {"EMNIST_DATA_DIR": str(tmp_path / "nope")})


def _gzip(path: Path, payload: bytes) -> None:
    with gzip.open(path, "wb") as handle:
        handle.write(payload)


BAD_FILES = {
    "missing file": (lambda f, n: (f / n.labels("train")).unlink(),
                     "lacks emnist-digits-train-labels-idx1-ubyte.gz in"),
    "bad magic": (lambda f, n: _gzip(f / n.images("train"), struct.pack(">4I", 2049, 50, GRID, GRID)),
                  "IDX magic 2049, expected 2051 for images"),
    "wrong size": (lambda f, n: _gzip(f / n.images("train"), struct.pack(">4I", 2051, 50, 32, 32)),
                   "images are 32x32, expected 28x28"),
    "truncated": (lambda f, n: _gzip(f / n.images("train"), struct.pack(">4I", 2051, 50, GRID, GRID) + bytes(784 * 3)),
                  "truncated: header declares 50 items, file holds 3"),
    "count mismatch": (lambda f, n: write_labels(f / n.labels("train"), np.zeros(49, np.uint8)),
                       "declares 50 images but emnist-digits-train-labels-idx1-ubyte.gz has 49 labels"),
    "trailing bytes": (lambda f, n: _gzip(f / n.labels("train"), struct.pack(">2I", 2049, 50) + bytes(51)),
                       "bytes after the 50 items"),
    "not gzip": (lambda f, n: (f / n.images("train")).write_bytes(b"plain bytes, not gzip"),
                 "not a readable gzip file"),
    "short header": (lambda f, n: _gzip(f / n.labels("train"), b"\x00\x00"), "truncated IDX header"),
    "duplicate mapping": (lambda f, n: (f / n.mapping).write_text("0 48\n0 49\n"), "label 0 mapped twice"),
    "empty mapping": (lambda f, n: (f / n.mapping).write_text("# nothing\n"), "maps no labels"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_give_one_line_errors(tmp_path, case):
    write_split(tmp_path)
    damage, message = BAD_FILES[case]
    damage(tmp_path, SplitFiles("digits"))
    with pytest.raises(ConfigError) as caught:
        load_dataset(tmp_path, "digits", part="train", cap=0, upright=True)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_unknown_split_and_mapping_parse(tmp_path):
    with pytest.raises(ConfigError, match="unknown EMNIST split 'digit'"):
        SplitFiles("digit")
    path = tmp_path / "m.txt"
    path.write_text("# comment\n\n2 50\n0 48\n1 49 extra\n")
    mapping = parse_mapping(path)
    assert mapping.labels == (0, 1, 2) and mapping.codepoints == (48, 49, 50)
    assert mapping.class_of()[[0, 1, 2, 3]].tolist() == [0, 1, 2, -1]


def test_class_counts_stream_the_whole_part(tmp_path):
    data = write_split(tmp_path, seed=4, train=50)
    labels = data["train"][1]
    expected = [int(np.count_nonzero(labels == label)) for label in MAPPED]
    assert class_counts(tmp_path, "digits", part="train") == expected
    assert sum(expected) == len(load_dataset(tmp_path, "digits", part="train", cap=0, upright=False).classes)
