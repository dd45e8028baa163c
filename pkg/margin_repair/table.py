"""The finite witness table: each image's unary facts as a compressed sparse row matrix.

Feature ids: ``0`` is ``bias:1`` and ``1 + idx`` is ``px:<idx>``, so a row's ids ascending are the
seed's facts list in order (bias first, then pixels by index). The seed's table hashes (``fi_hash``,
``table_fingerprint``) are computed here from the matrix, byte for byte as the seed's JSON would
give them, without building the list of strings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .features import N_PIXELS, active_pixels, hash_obj

__all__ = ["N_FEATURES", "FactTable", "build_fact_table", "feature_name", "probe_indices"]

N_FEATURES = 1 + N_PIXELS
_ROWS_PER_CHUNK = 4096


def feature_name(feature: int) -> str:
    """The seed's string for feature id ``feature``."""
    return "bias:1" if feature == 0 else f"px:{feature - 1}"


@dataclass(frozen=True)
class FactTable:
    """Facts of ``n`` images: row ``i`` holds feature ids ``indices[indptr[i]:indptr[i + 1]]``, ascending."""

    indptr: np.ndarray  # (n + 1,) int64
    indices: np.ndarray  # (nnz,) int16, every row starts with 0 (bias)

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def facts(self, i: int) -> list[str]:
        """Row ``i`` as the seed's list of fact strings."""
        return [feature_name(int(feature)) for feature in self.row(i)]

    def postings_sizes(self) -> np.ndarray:
        """How many rows hold each feature that occurs at all (the seed's posting-list lengths)."""
        counts = np.bincount(self.indices, minlength=N_FEATURES)
        return counts[counts > 0]

    def fi_hash(self) -> str:
        """sha256 of the seed's ``stable_json({"finite_n": n, "facts": FI})``, streamed from the matrix."""
        digest = hashlib.sha256(b'{"facts":[')
        for start in range(0, self.n_rows, _ROWS_PER_CHUNK):
            stop = min(start + _ROWS_PER_CHUNK, self.n_rows)
            text = _facts_json(self.indices[self.indptr[start] : self.indptr[stop]],
                               self.indptr[start + 1 : stop + 1] - self.indptr[start])
            digest.update(text[1:] if start == 0 else text)
        digest.update(b'],"finite_n":%d}' % self.n_rows)
        return digest.hexdigest()

    def fingerprint(self, fi_hash: str) -> str:
        """The seed's ``table_fp``: vocabulary and postings sizes, the 500 smallest posting lengths, ``fi_hash``."""
        sizes = self.postings_sizes()
        return hash_obj({
            "feat_vocab_size": int(len(sizes)),
            "postings_size": int(len(sizes)),
            "postings_hist_prefix": sorted(int(size) for size in sizes)[:500],
            "fi_hash": fi_hash,
        })


def build_fact_table(images: np.ndarray, *, bin_threshold: int, cap_unary: int) -> FactTable:
    """Facts of upright images ``(n, 28, 28)`` uint8 under the semantics lock, built chunk by chunk."""
    images = images.reshape(len(images), N_PIXELS)
    counts, pieces = [], []
    for start in range(0, len(images), _ROWS_PER_CHUNK):
        active = active_pixels(images[start : start + _ROWS_PER_CHUNK], bin_threshold=bin_threshold,
                               cap_unary=cap_unary)
        with_bias = np.concatenate([np.ones((len(active), 1), dtype=bool), active], axis=1)
        counts.append(with_bias.sum(axis=1))
        pieces.append(np.nonzero(with_bias)[1].astype(np.int16))
    indptr = np.zeros(len(images) + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    indices = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    return FactTable(indptr=indptr, indices=indices)


def probe_indices(classes: np.ndarray, n_classes: int, per_class: int) -> np.ndarray:
    """Positions of the first ``per_class`` images of each class, in stream order (the seed's probe set)."""
    classes = np.asarray(classes)
    rank = np.zeros(len(classes), dtype=np.int64)
    for c in range(n_classes):
        members = classes == c
        rank[members] = np.arange(np.count_nonzero(members))
    return np.flatnonzero((classes >= 0) & (classes < n_classes) & (rank < per_class))


# Token k of a facts row: 0 opens a row with the bias fact, 1..784 are pixel facts, 785 closes it.
_TOKENS = [b',["bias:1"', *(b',"px:%d"' % index for index in range(N_PIXELS)), b"]"]
_TOKEN_BYTES = np.frombuffer(b"".join(_TOKENS), dtype=np.uint8)
_TOKEN_LENGTH = np.array([len(token) for token in _TOKENS], dtype=np.int64)
_TOKEN_OFFSET = np.cumsum(_TOKEN_LENGTH) - _TOKEN_LENGTH
_CLOSE = N_FEATURES


def _facts_json(indices: np.ndarray, row_ends: np.ndarray) -> bytes:
    """``,["bias:1","px:…"],["bias:1",…]`` for consecutive rows (each starting with a comma)."""
    tokens = np.insert(indices.astype(np.int64), row_ends, _CLOSE)
    lengths = _TOKEN_LENGTH[tokens]
    out_start = np.cumsum(lengths) - lengths
    positions = np.arange(int(lengths.sum())) + np.repeat(_TOKEN_OFFSET[tokens] - out_start, lengths)
    return _TOKEN_BYTES[positions].tobytes()
