"""Per-unit baseline statistics, streamed over batches in float64, and the z-score of a unit tensor.

A unit tensor ``u`` has shape ``(tokens, hidden)``; the statistics hold one mean and one M2 (sum of
squared deviations) per unit, so the population std (ddof=0) is ``sqrt(m2 / count)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["BaselineStats", "standardize"]

_CHUNK_TOKENS = 8192  # rows standardized at a time: bounds the float64 temporaries to 8192 x hidden


@dataclass
class BaselineStats:
    """Running ``count`` (tokens), ``mean`` and ``m2`` (float64, shape ``(hidden,)``) of every unit."""

    count: int
    mean: np.ndarray
    m2: np.ndarray

    def __post_init__(self) -> None:
        self.count = int(self.count)
        self.mean = np.array(self.mean, dtype=np.float64)
        self.m2 = np.array(self.m2, dtype=np.float64)
        if self.count < 0:
            raise ValueError(f"BaselineStats count must be >= 0, got {self.count}")
        if self.mean.ndim != 1 or self.mean.shape != self.m2.shape:
            raise ValueError(f"BaselineStats mean and m2 must be 1-D of one shape (hidden,), got "
                             f"{self.mean.shape} and {self.m2.shape}")

    @classmethod
    def empty(cls, hidden: int) -> BaselineStats:
        """No tokens seen yet, for ``hidden`` units."""
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        return cls(0, np.zeros(hidden), np.zeros(hidden))

    @property
    def hidden(self) -> int:
        """Number of units."""
        return int(self.mean.shape[0])

    @property
    def std(self) -> np.ndarray:
        """Population std (ddof=0) of every unit, float64 ``(hidden,)``."""
        if self.count == 0:
            raise ValueError("BaselineStats has seen no tokens: the std is undefined")
        return np.sqrt(self.m2 / self.count)

    def update(self, u: np.ndarray) -> None:
        """Merge a batch ``u (tokens, hidden)`` in place (Chan et al. parallel merge, float64)."""
        batch = np.asarray(u, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.hidden:
            raise ValueError(f"update expects a (tokens, {self.hidden}) array, got shape {batch.shape}")
        n_batch = batch.shape[0]
        if n_batch == 0:
            return
        batch_mean = batch.mean(axis=0)
        batch_m2 = np.square(batch - batch_mean).sum(axis=0)
        total = self.count + n_batch
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n_batch / total)
        self.m2 = self.m2 + batch_m2 + np.square(delta) * (self.count * n_batch / total)
        self.count = total

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Datasets ``count`` (0-d int64), ``mean`` and ``m2`` (float64 ``(hidden,)``) for HDF5."""
        return {"count": np.array(self.count, dtype=np.int64), "mean": self.mean.copy(), "m2": self.m2.copy()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> BaselineStats:
        """Inverse of :meth:`to_arrays`; ``arrays`` may be a dict or an h5py group."""
        missing = [name for name in ("count", "mean", "m2") if name not in arrays]
        if missing:
            raise ValueError(f"BaselineStats arrays lack the datasets {missing}")
        count = np.asarray(arrays["count"])
        if count.size != 1:
            raise ValueError(f"BaselineStats 'count' must hold one value, got shape {count.shape}")
        return cls(int(count.reshape(-1)[0]), np.asarray(arrays["mean"]), np.asarray(arrays["m2"]))


def standardize(u: np.ndarray, stats: BaselineStats, std_floor: float) -> np.ndarray:
    """float32 ``z (tokens, hidden) = (u - mean) / max(std, std_floor)``, computed in float64.

    ``std_floor > 0`` keeps a constant unit finite (its z is 0 where u equals its mean).
    """
    if not np.isfinite(std_floor) or std_floor <= 0:
        raise ValueError(f"std_floor must be finite and > 0, got {std_floor}")
    values = np.asarray(u)
    if values.ndim != 2 or values.shape[1] != stats.hidden:
        raise ValueError(f"standardize expects a (tokens, {stats.hidden}) array, got shape {values.shape}")
    scale = np.maximum(stats.std, std_floor)
    z = np.empty(values.shape, dtype=np.float32)
    for start in range(0, values.shape[0], _CHUNK_TOKENS):
        rows = slice(start, start + _CHUNK_TOKENS)
        z[rows] = (values[rows].astype(np.float64) - stats.mean) / scale
    return z
