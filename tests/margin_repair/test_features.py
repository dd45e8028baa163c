"""Unary facts (vectorized against the reference) and the pinned semantics-lock hashes."""

from __future__ import annotations

import numpy as np
import pytest

from margin_repair.features import active_pixels, facts_unary, lock_hash, semantics_lock


def test_lock_hash_equals_the_seed():
    # Obtained by executing seed 000's own `_stable_json`, `_hash_obj` and `SEM_LOCK` lines (Cell 3)
    # with GRID=28, N_PIXELS=784 and CFG.canonicalize / CFG.bin_threshold as below.
    assert lock_hash(upright=True, bin_threshold=127) == (
        "f802d0d3ad7e0b45ac5a8b6c52a9711da8361e8e280e25cf33466a819400e051")
    assert lock_hash(upright=False, bin_threshold=127) == (
        "06c10df081bac2e3a067841092a57f5092f89ae4bdb0597b3ca49bbf68b82820")
    assert lock_hash(upright=True, bin_threshold=100) == (
        "e96e3af8a738c589c7af8a0024e76fe835b2ccf3b24c6b67e3b10256e4efae40")
    assert semantics_lock(upright=True, bin_threshold=127)["canonicalize"] == "upright"


def _images(seed: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 784), dtype=np.uint8)
    images[: count // 3] = rng.choice([0, 200, 255], size=(count // 3, 784)).astype(np.uint8)  # many ties
    images[-1] = 0  # no active pixel: bias only
    return images


@pytest.mark.parametrize(("threshold", "cap"), [(127, 128), (127, 0), (0, 784), (250, 3), (127, 1), (254, 500)])
def test_vectorized_facts_equal_the_reference(threshold, cap):
    images = _images(seed=threshold + cap, count=60)
    mask = active_pixels(images, bin_threshold=threshold, cap_unary=cap)
    for image, row in zip(images, mask):
        expected = facts_unary(image.tobytes(), bin_threshold=threshold, cap_unary=cap)
        assert ["bias:1", *(f"px:{index}" for index in np.flatnonzero(row))] == expected


def test_reference_rejects_wrong_length():
    with pytest.raises(ValueError, match="784 bytes"):
        facts_unary(bytes(10), bin_threshold=127, cap_unary=128)
