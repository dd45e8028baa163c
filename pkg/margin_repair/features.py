"""Unary pixel facts and the semantics lock of seed 000.

An image's facts are ``bias:1`` followed by ``px:<idx>`` for each pixel above ``bin_threshold``, in
index order. When more than ``cap_unary`` pixels are on (and ``cap_unary > 0``), only the
``cap_unary`` brightest are kept, ties broken by the lower index. The semantics lock states these
rules as data; its ``lock_hash`` is the sha256 of its stable JSON.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from .emnist import GRID

__all__ = ["active_pixels", "facts_unary", "hash_obj", "lock_hash", "semantics_lock", "stable_json"]

N_PIXELS = GRID * GRID


def stable_json(obj: Any) -> str:
    """JSON with sorted keys, no spaces, UTF-8 kept and NaN refused: the seed's hashing form."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def hash_obj(obj: Any) -> str:
    """sha256 hex of :func:`stable_json`."""
    return hashlib.sha256(stable_json(obj).encode("utf-8")).hexdigest()


def semantics_lock(*, upright: bool, bin_threshold: int) -> dict[str, Any]:
    """The rules that decide what a fact is, exactly as seed 000 writes them."""
    return {
        "grid": GRID,
        "n_pixels": N_PIXELS,
        "canonicalize": "upright" if upright else "raw",
        "binarize_predicate": "v > bin_threshold",
        "bin_threshold": int(bin_threshold),
        "feature_schema": "unary: bias + active pixels",
        "bias_feature": "bias:1",
        "active_pixel_feature": "px:<idx>",
        "cap_policy": "if cap_unary>0 and active>cap_unary: take top by (value desc, idx asc)",
        "ordering_policy": "facts list begins with bias; then pixels in idx ascending (after optional cap)",
        "dedup_policy": "preserve first occurrence",
        "argmax_tie_break": "stable first-maximum (least index among maxima)",
    }


def lock_hash(*, upright: bool, bin_threshold: int) -> str:
    """``hash_obj`` of the semantics lock."""
    return hash_obj(semantics_lock(upright=upright, bin_threshold=bin_threshold))


def facts_unary(image: bytes, *, bin_threshold: int, cap_unary: int) -> list[str]:
    """Reference: the facts of one flattened 784-byte image, as strings."""
    if len(image) != N_PIXELS:
        raise ValueError(f"expected an image of {N_PIXELS} bytes, got {len(image)}")
    active = [(value, index) for index, value in enumerate(image) if value > bin_threshold]
    if cap_unary > 0 and len(active) > cap_unary:
        active = sorted(active, key=lambda pair: (-pair[0], pair[1]))[:cap_unary]
    return ["bias:1", *(f"px:{index}" for _, index in sorted(active, key=lambda pair: pair[1]))]


def active_pixels(images: np.ndarray, *, bin_threshold: int, cap_unary: int) -> np.ndarray:
    """Vectorized facts: ``(n, 784)`` uint8 -> ``(n, 784)`` bool, True where ``px:<idx>`` is a fact.

    Rows with more than ``cap_unary`` active pixels keep the ``cap_unary`` largest keys
    ``value * 1024 + (1023 - idx)``, which orders by value desc then index asc, all keys distinct.
    """
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), N_PIXELS)
    active = images > bin_threshold
    if cap_unary <= 0:
        return active
    over = np.flatnonzero(active.sum(axis=1) > cap_unary)
    if over.size:
        keys = np.where(active[over], images[over].astype(np.int32) * 1024 + (1023 - np.arange(N_PIXELS)), -1)
        keep = np.argpartition(-keys, cap_unary - 1, axis=1)[:, :cap_unary]
        capped = np.zeros((over.size, N_PIXELS), dtype=bool)
        np.put_along_axis(capped, keep, True, axis=1)
        active[over] = capped
    return active
