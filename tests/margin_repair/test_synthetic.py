"""The synthetic EMNIST-format split: same bytes for the same arguments, readable as EMNIST, upright after the
transpose, EMNIST-like pixel statistics, and learnable but not trivially so."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from margin_repair.emnist import SPLITS, SplitFiles, binarize, load_dataset, parse_mapping
from margin_repair.features import active_pixels
from margin_repair.synthetic import SYNTHETIC_LABEL, class_templates, write_synthetic_split
from runlab.errors import ConfigError

CLASSES = {"digits": 10, "mnist": 10, "letters": 26, "balanced": 47, "bymerge": 47, "byclass": 62}


def digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


def centroid(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of an image's centre of mass."""
    rows, cols = np.indices(image.shape)
    return float((image * rows).sum() / image.sum()), float((image * cols).sum() / image.sum())


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, list[str]]:
    """One digits split shared by the statistics tests (generation is dominated by gzip level 9)."""
    folder = tmp_path_factory.mktemp("digits")
    return folder, write_synthetic_split(folder, "digits", n_train=2000, n_test=600, seed=7)


def test_same_arguments_give_the_same_bytes_and_only_the_split_files(tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    names = write_synthetic_split(first, "letters", n_train=120, n_test=60, seed=3)
    write_synthetic_split(second, "letters", n_train=120, n_test=60, seed=3)
    write_synthetic_split(other, "letters", n_train=120, n_test=60, seed=4)
    assert names == SplitFiles("letters").all()
    assert sorted(path.name for path in first.iterdir()) == sorted(names)
    assert digests(first) == digests(second)
    changed = {name for name, digest in digests(other).items() if digest != digests(first)[name]}
    assert changed == {name for name in names if name.endswith(".gz")}
    assert SYNTHETIC_LABEL == "synthetic EMNIST-format data (not EMNIST)"


@pytest.mark.parametrize("split", SPLITS)
def test_every_split_loads_with_its_counts_and_classes(tmp_path, split):
    write_synthetic_split(tmp_path, split, n_train=130, n_test=70, seed=1)
    train = load_dataset(tmp_path, split, part="train", cap=0, upright=True)
    test = load_dataset(tmp_path, split, part="test", cap=0, upright=True)
    assert train.images.shape == (130, 28, 28) and test.images.shape == (70, 28, 28)
    assert len(train.mapping.labels) == CLASSES[split]
    assert np.bincount(train.classes, minlength=CLASSES[split]).min() >= 130 // CLASSES[split]
    assert np.bincount(test.classes, minlength=CLASSES[split]).min() >= 70 // CLASSES[split]


def test_mapping_files_follow_the_real_ones(tmp_path):
    for split in ("digits", "letters", "balanced", "byclass"):
        write_synthetic_split(tmp_path / split, split, n_train=1, n_test=1, seed=0)
    digits = parse_mapping(tmp_path / "digits" / SplitFiles("digits").mapping)
    assert digits.labels == tuple(range(10)) and digits.codepoints == tuple(range(48, 58))
    letters_file = tmp_path / "letters" / SplitFiles("letters").mapping
    assert letters_file.read_text().splitlines()[0] == "1 65 97"
    letters = parse_mapping(letters_file)
    assert letters.labels == tuple(range(1, 27)) and letters.codepoints == tuple(range(65, 91))
    balanced = parse_mapping(tmp_path / "balanced" / SplitFiles("balanced").mapping)
    assert "".join(map(chr, balanced.codepoints[36:])) == "abdefghnqrt"
    byclass = parse_mapping(tmp_path / "byclass" / SplitFiles("byclass").mapping)
    assert "".join(map(chr, byclass.codepoints)) == (
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def test_upright_images_match_the_templates_and_raw_ones_their_transpose(digits):
    folder, _ = digits
    upright = load_dataset(folder, "digits", part="train", cap=0, upright=True)
    raw = load_dataset(folder, "digits", part="train", cap=0, upright=False)
    assert np.array_equal(raw.images, upright.images.transpose(0, 2, 1))
    templates = class_templates("digits", seed=7)[:, 0].astype(np.float64)  # (10, 28, 28), first variant
    assert all(not np.array_equal(template, template.T) for template in templates)
    means = np.stack([upright.images[upright.classes == klass].mean(axis=0) for klass in range(10)])
    for mean, template in zip(means, templates):
        assert correlation(mean, template) > 0.8 and correlation(mean, template) > correlation(mean, template.T) + 0.15
    # the most lopsided glyph's ink lies on the same side of the diagonal in the template and in the data
    lopsided = int(np.argmax([abs(np.subtract(*centroid(template))) for template in templates]))
    template_row, template_col = centroid(templates[lopsided])
    mean_row, mean_col = centroid(means[lopsided])
    assert abs(template_col - template_row) > 3 and np.sign(mean_col - mean_row) == np.sign(template_col - template_row)
    assert abs(mean_row - template_row) < 1 and abs(mean_col - template_col) < 1.5


def test_pixel_statistics_look_like_emnist(digits):
    folder, _ = digits
    images = load_dataset(folder, "digits", part="train", cap=0, upright=True).images
    active = binarize(images, 127).reshape(len(images), -1).sum(axis=1)
    assert 100 <= np.median(active) <= 170
    assert 0.8 <= np.mean((active >= 60) & (active <= 260))
    assert 0.3 <= np.mean(active > 128) <= 0.85
    capped = active_pixels(images.reshape(len(images), -1), bin_threshold=127, cap_unary=128).sum(axis=1)
    assert capped.max() == 128
    lit = images[images > 0]
    assert 0.1 <= np.mean(images > 0) <= 0.35  # mostly background
    assert 0.3 <= np.mean(lit == 255) <= 0.8 and 0.2 <= np.mean(lit < 255)  # saturated cores, grey edges
    assert 0.05 <= np.mean((lit > 0) & (lit <= 127))  # grey that the threshold removes


def test_classes_are_learnable_but_not_trivially(digits):
    folder, _ = digits
    train = load_dataset(folder, "digits", part="train", cap=0, upright=True)
    test = load_dataset(folder, "digits", part="test", cap=0, upright=True)
    features_train = binarize(train.images, 127).reshape(len(train.images), -1).astype(np.float64)
    features_test = binarize(test.images, 127).reshape(len(test.images), -1).astype(np.float64)
    means = np.stack([features_train[train.classes == klass].mean(axis=0) for klass in range(10)])
    distances = ((features_test[:, None, :] - means[None]) ** 2).sum(axis=-1)
    accuracy = np.mean(distances.argmin(axis=1) == test.classes)
    assert 0.75 <= accuracy <= 0.97  # nearest class mean; chance is 0.1


@pytest.mark.parametrize("arguments, message", [
    ({"n_train": 0, "n_test": 5, "seed": 0}, "n_train must be an integer >= 1, got 0"),
    ({"n_train": 5, "n_test": -2, "seed": 0}, "n_test must be an integer >= 1, got -2"),
    ({"n_train": 5, "n_test": 2.5, "seed": 0}, "n_test must be an integer >= 1, got 2.5"),
    ({"n_train": 5, "n_test": 5, "seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"split": "digit", "n_train": 5, "n_test": 5, "seed": 0}, "unknown EMNIST split 'digit'"),
])
def test_bad_arguments_give_one_line_errors_and_write_nothing(tmp_path, arguments, message):
    with pytest.raises(ConfigError) as caught:
        write_synthetic_split(tmp_path / "out", **arguments)
    assert message in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()
