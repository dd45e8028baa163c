"""Hashes the study records: files through runlab's ``sha256_file``, arrays by their little-endian bytes."""

from __future__ import annotations

import hashlib

import numpy as np

from runlab import sha256_file

__all__ = ["sha256_arrays", "sha256_file"]


def sha256_arrays(*arrays: np.ndarray) -> str:
    """sha256 of the arrays' bytes in order, integers as little-endian int64 and floats as float64."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        dtype = "<f8" if np.issubdtype(array.dtype, np.floating) else "<i8"
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()
