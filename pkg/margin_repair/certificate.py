"""The seed's certificate: what was repaired, on which table, and the exact audit of the result.

Its fields and hashes are the seed's (``CERT`` of Cell 3): given the same data folder, knobs and
weights it hashes to the same ``certificate_hash``. The seed's provenance names the data folder,
so the hash of a real-EMNIST certificate depends on where the files lie; synthetic data is named
by its place in the run store, which keeps those certificates the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .audit import cache_consistency_check, definitional_scores, finite_margin_check
from .features import hash_obj, lock_hash, semantics_lock
from .settings import StudySettings
from .table import FactTable
from .weights import nonzero_keys, weights_hash

__all__ = ["Audit", "audit", "build_certificate", "finite_table_id", "provenance_hash"]

SCHEMA = "typedrepair: compiled discrete margin repair (integer weights; postings + cache)"
FEATURES_SCHEMA = "bias:1 + px:<idx> for pixels with value > bin_threshold; optional cap by intensity"
VERIFICATION_NOTE = ("Exact audit on finite witness table; cache check enforces definitional score equality "
                     "on the table.")


@dataclass(frozen=True)
class Audit:
    finite_full_margin_check: dict[str, Any]
    cache_consistency_check: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.finite_full_margin_check["ok"] and self.cache_consistency_check["ok"])


def audit(table: FactTable, labels: np.ndarray, weights: np.ndarray, cache: np.ndarray, margin: int) -> Audit:
    """Recompute every score from the weights in int64, check the margin and compare with the cache."""
    scores = definitional_scores(table, weights)
    return Audit(finite_margin_check(scores, labels, margin), cache_consistency_check(cache, scores))


def provenance_hash(provenance: dict[str, Any]) -> str:
    return hash_obj(provenance)


def finite_table_id(provenance: dict[str, Any], settings: StudySettings, labels: np.ndarray, fi_hash: str) -> str:
    """The seed's identity of the witness table: data, lock, source positions, labels and facts."""
    return hash_obj({
        "prov_hash": provenance_hash(provenance),
        "lock_hash": lock_hash(upright=settings.canonicalize, bin_threshold=settings.bin_threshold),
        "finite_srcpos": list(range(len(labels))),
        "finite_labels": [int(label) for label in labels],
        "fi_hash": fi_hash,
    })


def build_certificate(settings: StudySettings, provenance: dict[str, Any], table: FactTable, labels: np.ndarray,
                      weights: np.ndarray, result: Audit) -> dict[str, Any]:
    """The seed's ``CERT`` with its ``certificate_hash`` added."""
    fi_hash = table.fi_hash()
    vocabulary = len(table.postings_sizes())
    classes, counts = np.unique(labels, return_counts=True)
    certificate = {
        "schema": SCHEMA,
        "ok": result.ok,
        "lock": semantics_lock(upright=settings.canonicalize, bin_threshold=settings.bin_threshold),
        "lock_hash": lock_hash(upright=settings.canonicalize, bin_threshold=settings.bin_threshold),
        "cfg_hash": settings.cfg_hash(),
        "dataset_provenance": provenance,
        "prov_hash": provenance_hash(provenance),
        "finite_table": {
            "finite_table_id": finite_table_id(provenance, settings, labels, fi_hash),
            "finite_n": settings.finite_n,
            "src_positions_in_train_stream": list(range(len(labels))),
            "labels": [int(label) for label in labels],
            "class_hist": {int(c): int(count) for c, count in zip(classes, counts)},  # int keys sort numerically
            "fi_hash": fi_hash,
            "table_fingerprint": table.fingerprint(fi_hash),
        },
        "features": {
            "schema": FEATURES_SCHEMA,
            "cap_unary": settings.cap_unary,
            "feat_vocab_size": vocabulary,
            "postings_size": vocabulary,
        },
        "weights": {"weights_hash": weights_hash(weights), "nonzero_keys": nonzero_keys(weights)},
        "verification": {
            "finite_full_margin_check": result.finite_full_margin_check,
            "cache_consistency_check": result.cache_consistency_check,
            "note": VERIFICATION_NOTE,
        },
    }
    return {**certificate, "certificate_hash": hash_obj(certificate)}
