"""The seed's certificate: what was repaired, on which table, and the exact audit of the result.

Its fields and hashes are the seed's (``CERT`` of Cell 3): given the same data folder, knobs and
weights it hashes to the same ``certificate_hash``. The seed's provenance names the data folder,
so that hash depends on where the files lie (and, for synthetic data, on the DATA run's id).

The ``portable`` block beside it names the data by content alone: the provenance without its
``data_dir`` (split, file names, sizes and sha256s), the ``prov_hash`` and ``finite_table_id`` that
follow from it, and ``portable.certificate_hash`` over the seed's fields with those three replaced.
The same files, knobs and weights give the same portable hash on every machine. The seed's
``certificate_hash`` covers the seed's fields only (drop ``certificate_hash`` and ``portable`` to
recompute it); ``spec/margin_repair/certificate.md`` states both.

As stored, the certificate is indented JSON that reads from the top (``ok``, the hashes, the audit
first), with its two per-example lists (the table's source positions and labels) in a parquet table
beside it; :func:`stored_certificate` splits it so and :func:`joined_certificate` puts it back
together, and the hashes are over the joined certificate, the seed's form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .audit import cache_consistency_check, definitional_scores, finite_margin_check
from .features import hash_obj, lock_hash, semantics_lock
from .settings import StudySettings
from .table import FactTable
from .weights import nonzero_keys, weights_hash

__all__ = ["Audit", "EXAMPLES", "PORTABLE_SCHEMA", "audit", "build_certificate", "certificate_hash_problems",
           "finite_table_id", "joined_certificate", "portable_provenance", "provenance_hash", "stored_certificate"]

SCHEMA = "typedrepair: compiled discrete margin repair (integer weights; postings + cache)"
FEATURES_SCHEMA = "bias:1 + px:<idx> for pixels with value > bin_threshold; optional cap by intensity"
PORTABLE_SCHEMA = "margin_repair portable certificate v1: data named by content (file sha256s), no folder"
VERIFICATION_NOTE = ("Exact audit on finite witness table; cache check enforces definitional score equality "
                     "on the table.")
EXAMPLES = "results/certificate_examples.parquet"  # the per-example lists of a stored certificate
_STORED_APART = {"src_position": "src_positions_in_train_stream", "label": "labels"}  # column -> finite_table key
_STORED_ORDER = ("schema", "ok", "certificate_hash", "portable", "verification", "weights", "features",
                 "finite_table", "cfg_hash", "lock_hash", "lock", "prov_hash", "dataset_provenance")


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
    return {**certificate, "certificate_hash": hash_obj(certificate),
            "portable": _portable(certificate, settings, labels, fi_hash)}


def portable_provenance(provenance: dict[str, Any]) -> dict[str, Any]:
    """The seed's provenance without ``data_dir``: the split and each file's name, size and sha256."""
    return {key: value for key, value in provenance.items() if key != "data_dir"}


def _portable(certificate: dict[str, Any], settings: StudySettings, labels: np.ndarray, fi_hash: str) -> dict[str, Any]:
    """The ``portable`` block of a certificate whose seed fields are ``certificate``."""
    provenance = portable_provenance(certificate["dataset_provenance"])
    table_id = finite_table_id(provenance, settings, labels, fi_hash)
    body = {**certificate, "dataset_provenance": provenance, "prov_hash": provenance_hash(provenance),
            "finite_table": {**certificate["finite_table"], "finite_table_id": table_id}}
    return {"schema": PORTABLE_SCHEMA, "prov_hash": body["prov_hash"], "finite_table_id": table_id,
            "certificate_hash": hash_obj(body)}


def certificate_hash_problems(certificate: dict[str, Any]) -> list[str]:
    """Lines naming each hash of a stored certificate that does not follow from its own fields: the seed's
    ``certificate_hash`` (over the seed's fields) and ``portable`` (over the same, data named by content)."""
    seed_fields = {key: value for key, value in certificate.items() if key not in ("certificate_hash", "portable")}
    problems = []
    if certificate.get("certificate_hash") != hash_obj(seed_fields):
        problems.append("certificate_hash does not hash the certificate's seed fields")
    portable = certificate.get("portable")
    try:
        provenance = portable_provenance(seed_fields["dataset_provenance"])
        table = {**seed_fields["finite_table"], "finite_table_id": portable["finite_table_id"]}
        body = {**seed_fields, "dataset_provenance": provenance, "prov_hash": provenance_hash(provenance),
                "finite_table": table}
        expected = {"schema": PORTABLE_SCHEMA, "prov_hash": body["prov_hash"],
                    "finite_table_id": portable["finite_table_id"], "certificate_hash": hash_obj(body)}
    except (KeyError, TypeError):
        return problems + ["portable: missing or incomplete"]
    if portable != expected:
        problems.append("portable.certificate_hash does not hash the certificate's fields with its data named by content")
    return problems


def stored_certificate(certificate: dict[str, Any]) -> tuple[bytes, dict[str, list[int]]]:
    """The certificate as ``results/certificate.json`` holds it, and the columns of :data:`EXAMPLES`.

    The JSON is indented, its keys in :data:`_STORED_ORDER` (the verdict and hashes first); each
    per-example list of ``finite_table`` is replaced by ``{"stored_in": EXAMPLES, "column": ..., "rows": n}``.
    """
    table = dict(certificate["finite_table"])
    columns = {column: table[key] for column, key in _STORED_APART.items()}
    for column, key in _STORED_APART.items():
        table[key] = {"stored_in": EXAMPLES, "column": column, "rows": len(columns[column])}
    order = [*_STORED_ORDER, *(key for key in certificate if key not in _STORED_ORDER)]
    document = {key: certificate[key] for key in order} | {"finite_table": table}
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return text.encode("utf-8"), columns


def joined_certificate(document: dict[str, Any], columns: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """The whole certificate (the seed's form, which its hashes cover) from the stored JSON and the columns of
    :data:`EXAMPLES`; a list still inline (CERT version 2 stored them so) is kept. ValueError names a reference
    that the columns do not satisfy."""
    table = dict(document["finite_table"])
    for column, key in _STORED_APART.items():
        reference = table.get(key)
        if isinstance(reference, list):
            continue
        values = columns.get(column)
        if reference != {"stored_in": EXAMPLES, "column": column, "rows": None if values is None else len(values)}:
            raise ValueError(f"finite_table.{key} is not a reference to the {len(values or [])} rows of column "
                             f"{column} of {EXAMPLES}")
        table[key] = [int(value) for value in values]
    return {**document, "finite_table": table}
