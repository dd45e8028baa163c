"""Integer weights ``W[feature, class]`` as a dense ``(785, K) int64`` array, and the seed's weights hash."""

from __future__ import annotations

import hashlib

import numpy as np

from .features import stable_json
from .table import N_FEATURES, feature_name

__all__ = ["nonzero_keys", "weights_hash", "zero_weights"]

# Feature ids in the order of their names ("bias:1" < "px:0" < "px:1" < "px:10" < ...), as the seed sorts.
_BY_NAME = np.array(sorted(range(N_FEATURES), key=feature_name), dtype=np.int64)
_NAMES_BY_NAME = [feature_name(int(feature)) for feature in _BY_NAME]


def zero_weights(n_classes: int) -> np.ndarray:
    return np.zeros((N_FEATURES, n_classes), dtype=np.int64)


def nonzero_keys(weights: np.ndarray) -> int:
    """The seed's ``w_keys`` / ``nonzero_keys``: (class, feature) pairs with a nonzero weight."""
    return int(np.count_nonzero(weights))


def weights_hash(weights: np.ndarray) -> str:
    """sha256 of the stable JSON of the sorted ``[class, feature name, weight]`` triples with weight != 0."""
    by_class = np.asarray(weights)[_BY_NAME].T  # (K, 785), features in name order
    classes, positions = np.nonzero(by_class)
    items = [[c, _NAMES_BY_NAME[position], value] for c, position, value
             in zip(classes.tolist(), positions.tolist(), by_class[classes, positions].tolist())]
    return hashlib.sha256(stable_json(items).encode("utf-8")).hexdigest()
