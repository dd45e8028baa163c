"""The field artifact: the HDF5 file a worker writes per candidate and initial field, and the validator reads.

A candidate is integrated from ``K`` initial fields (``irer.hunt.initial_fields``); each integration is one
file, ``field`` naming which. Schema version 2 (version 1 had no ``field``; its files are refused).
Datasets (root group, contiguous, float32 or float64 as written):

- ``final_psi_re``, ``final_psi_im``: real and imaginary parts of the final field ``psi``, ``(N, N)``;
- ``final_rho``: ``|psi|²`` of the same field, ``(N, N)`` (written from the two parts, checked on read);
- ``final_g_tt``: the metric component ``g_tt`` at the final time, ``(N, N)``, dimensionless;
- ``snapshots_rho`` (optional): ``|psi|²`` at ``S`` save times, ``(S, N, N)``.

Root attributes: ``schema_version`` (int, 2), ``params_json`` (the candidate's evolved and fixed
parameters as compact JSON with sorted keys), ``dx`` (grid spacing, length), ``alpha`` (metric
exponent), ``rho_vac`` (vacuum density), ``tau_s`` (geometry relaxation time, time), ``seed``,
``generation``, ``candidate`` (where it was integrated), ``field`` (the initial field's index; non-negative
ints), ``config_hash`` (lowercase hex), ``code_version``.
Bytes are deterministic (``runlab.formats.hdf5_bytes``): the same inputs give the same file.
"""

from __future__ import annotations

import io
import json
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any, Union

import numpy as np

from runlab import SchemaError, hdf5_bytes

__all__ = [
    "ATTR_FLOATS",
    "ATTR_INTS",
    "ATTR_STRINGS",
    "DATASETS",
    "PSI_IM",
    "PSI_RE",
    "RHO",
    "G_TT",
    "SCHEMA_VERSION",
    "SNAPSHOTS_RHO",
    "CandidateArrays",
    "candidate_hdf5_bytes",
    "params_json",
    "read_candidate",
]

SCHEMA_VERSION = 2

PSI_RE = "final_psi_re"
PSI_IM = "final_psi_im"
RHO = "final_rho"
G_TT = "final_g_tt"
SNAPSHOTS_RHO = "snapshots_rho"
DATASETS: tuple[str, ...] = (PSI_RE, PSI_IM, RHO, G_TT)
"""The required datasets, in the order they are written; ``SNAPSHOTS_RHO`` is optional and last."""

ATTR_FLOATS: tuple[str, ...] = ("dx", "alpha", "rho_vac", "tau_s")
ATTR_INTS: tuple[str, ...] = ("seed", "generation", "candidate", "field")
ATTR_STRINGS: tuple[str, ...] = ("params_json", "config_hash", "code_version")

# |psi|² stored next to psi must agree with it to this fraction of max(rho) (float32 round-off is ~1e-7).
_RHO_RTOL = 1e-5
_HEX = re.compile(r"[0-9a-f]+")
_HINT = f"write candidate artifacts with irer.artifacts.candidate_hdf5_bytes (schema_version {SCHEMA_VERSION})"

Source = Union[str, PathLike, bytes]


@dataclass(frozen=True)
class CandidateArrays:
    """One candidate's artifact as read: arrays ``(N, N)`` (snapshots ``(S, N, N)``) and attributes."""

    final_psi: np.ndarray  # complex, (N, N): final_psi_re + 1j * final_psi_im
    final_rho: np.ndarray  # real, (N, N): |psi|²
    final_g_tt: np.ndarray  # real, (N, N), dimensionless
    snapshots_rho: np.ndarray | None  # real, (S, N, N), or None when not written
    params: dict[str, Any]  # decoded params_json
    dx: float  # grid spacing, length
    alpha: float  # metric exponent
    rho_vac: float  # vacuum density (units of |psi|²)
    tau_s: float  # geometry relaxation time, time
    seed: int
    generation: int
    candidate: int
    field: int  # index of the initial field, 0 .. K-1
    config_hash: str
    code_version: str
    schema_version: int = SCHEMA_VERSION

    @property
    def n(self) -> int:
        """Grid points per side ``N``."""
        return int(self.final_rho.shape[0])


def params_json(params: Mapping[str, Any]) -> str:
    """``params`` as compact JSON with sorted keys (the stable text stored in ``params_json``)."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def candidate_hdf5_bytes(
    *,
    final_psi: np.ndarray,
    final_g_tt: np.ndarray,
    params: Mapping[str, Any],
    dx: float,
    alpha: float,
    rho_vac: float,
    tau_s: float,
    seed: int,
    generation: int,
    candidate: int,
    config_hash: str,
    code_version: str,
    snapshots_rho: np.ndarray | None = None,
    field: int = 0,
) -> bytes:
    """Deterministic HDF5 bytes of one candidate's integration from initial field ``field`` (schema version 2);
    ``final_rho`` is ``|final_psi|²``.

    ``final_psi`` is complex ``(N, N)``; its parts are stored at its own precision (complex64 →
    float32). Bad shapes or attributes are a ValueError: the writer is the worker's code, not input.
    """
    psi = np.asarray(final_psi)
    if psi.ndim != 2 or psi.shape[0] != psi.shape[1] or not np.iscomplexobj(psi):
        raise ValueError(f"final_psi must be a complex (N, N) array, got {psi.dtype} {psi.shape}")
    re_part = np.ascontiguousarray(psi.real)
    im_part = np.ascontiguousarray(psi.imag)
    g_tt = np.ascontiguousarray(final_g_tt)
    if g_tt.shape != psi.shape or g_tt.dtype.kind != "f":
        raise ValueError(f"final_g_tt must be a real {psi.shape} array, got {g_tt.dtype} {g_tt.shape}")
    arrays = {PSI_RE: re_part, PSI_IM: im_part, RHO: re_part * re_part + im_part * im_part, G_TT: g_tt}
    if snapshots_rho is not None:
        snaps = np.ascontiguousarray(snapshots_rho)
        if snaps.ndim != 3 or snaps.shape[1:] != psi.shape or snaps.dtype.kind != "f":
            raise ValueError(f"snapshots_rho must be a real (S, {psi.shape[0]}, {psi.shape[1]}) array, got {snaps.shape}")
        arrays[SNAPSHOTS_RHO] = snaps
    floats = {"dx": dx, "alpha": alpha, "rho_vac": rho_vac, "tau_s": tau_s}
    ints = {"seed": seed, "generation": generation, "candidate": candidate, "field": field}
    attrs: dict[str, str | int | float] = {"schema_version": SCHEMA_VERSION, "params_json": params_json(params)}
    attrs.update({name: float(value) for name, value in floats.items()})
    attrs.update({name: operator.index(value) for name, value in ints.items()})
    attrs.update({"config_hash": config_hash, "code_version": code_version})
    problem = _attr_problem(attrs, dict(params))
    if problem:
        raise ValueError(problem)
    return hdf5_bytes(arrays, attrs)


def read_candidate(source: Source) -> CandidateArrays:
    """Read and check a candidate artifact from a path or from its bytes.

    Every contract breach (not HDF5, a missing or misshapen dataset, a missing, mistyped or
    inconsistent attribute, another schema version, ``final_rho`` not ``|psi|²``) is a one-line
    ``SchemaError``. Non-finite array values are not a breach; the validator scores them.
    """
    import h5py

    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        h5 = h5py.File(handle, "r")
    except (OSError, ValueError) as err:
        raise SchemaError(f"candidate artifact {name} is not a readable HDF5 file ({_first_line(err)})", _HINT) from None
    with h5:
        attrs = _read_attrs(h5, name)
        arrays = _read_arrays(h5, name)
    psi = arrays[PSI_RE] + 1j * arrays[PSI_IM]
    rho = arrays[RHO]
    with np.errstate(all="ignore"):
        mismatch = np.max(np.abs(rho - np.abs(psi) ** 2)) > _RHO_RTOL * np.max(np.abs(rho))
    if bool(mismatch) and bool(np.isfinite(psi).all() and np.isfinite(rho).all()):
        raise SchemaError(f"candidate artifact {name}: {RHO} is not |psi|² of {PSI_RE}/{PSI_IM}", _HINT)
    return CandidateArrays(
        final_psi=psi,
        final_rho=rho,
        final_g_tt=arrays[G_TT],
        snapshots_rho=arrays.get(SNAPSHOTS_RHO),
        params=attrs.pop("params"),
        schema_version=attrs.pop("schema_version"),
        **attrs,
    )


def _read_attrs(h5: Any, name: str) -> dict[str, Any]:
    """The root attributes, typed and checked; ``params_json`` decoded into ``params``."""
    missing = [key for key in ("schema_version", *ATTR_FLOATS, *ATTR_INTS, *ATTR_STRINGS) if key not in h5.attrs]
    if missing:
        raise SchemaError(f"candidate artifact {name}: attribute(s) {missing} missing", _HINT)
    version = h5.attrs["schema_version"]
    if not isinstance(version, np.integer) or int(version) != SCHEMA_VERSION:
        raise SchemaError(
            f"candidate artifact {name} has schema_version {_shown(version)}; this reader knows {SCHEMA_VERSION}",
            "rerun the generation with this code version, or read it with the code that wrote it",
        )
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for key in ATTR_FLOATS:
        value = h5.attrs[key]
        if not isinstance(value, (np.floating, np.integer)):
            raise SchemaError(f"candidate artifact {name}: attribute {key!r} is not a number ({_shown(value)})", _HINT)
        out[key] = float(value)
    for key in ATTR_INTS:
        value = h5.attrs[key]
        if not isinstance(value, np.integer):
            raise SchemaError(f"candidate artifact {name}: attribute {key!r} is not an integer ({_shown(value)})", _HINT)
        out[key] = int(value)
    for key in ATTR_STRINGS:
        value = h5.attrs[key]
        if not isinstance(value, str):
            raise SchemaError(f"candidate artifact {name}: attribute {key!r} is not a string ({_shown(value)})", _HINT)
        out[key] = value
    try:
        params = json.loads(out.pop("params_json"))
    except json.JSONDecodeError as err:
        raise SchemaError(f"candidate artifact {name}: params_json is not JSON ({err.msg})", _HINT) from None
    if not isinstance(params, dict):
        raise SchemaError(f"candidate artifact {name}: params_json is not a JSON object", _HINT)
    problem = _attr_problem(out, params)
    if problem:
        raise SchemaError(f"candidate artifact {name}: {problem}", _HINT)
    out["params"] = params
    return out


def _read_arrays(h5: Any, name: str) -> dict[str, np.ndarray]:
    """The datasets as float64 arrays, each checked for presence, kind and shape."""
    import h5py

    missing = [key for key in DATASETS if key not in h5]
    if missing:
        raise SchemaError(f"candidate artifact {name}: dataset(s) {missing} missing", _HINT)
    arrays: dict[str, np.ndarray] = {}
    for key in (*DATASETS, SNAPSHOTS_RHO):
        if key not in h5:
            continue
        node = h5[key]
        if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "fi":
            raise SchemaError(f"candidate artifact {name}: {key} is not a real numeric dataset", _HINT)
        arrays[key] = np.asarray(node[()], dtype=np.float64)
    shape = arrays[RHO].shape
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
        raise SchemaError(f"candidate artifact {name}: {RHO} has shape {shape}, expected (N, N) with N >= 2", _HINT)
    for key in (PSI_RE, PSI_IM, G_TT):
        if arrays[key].shape != shape:
            raise SchemaError(f"candidate artifact {name}: {key} has shape {arrays[key].shape}, expected {shape}", _HINT)
    snapshots = arrays.get(SNAPSHOTS_RHO)
    if snapshots is not None and (snapshots.ndim != 3 or snapshots.shape[1:] != shape):
        expected = f"(S, {shape[0]}, {shape[1]})"
        raise SchemaError(f"candidate artifact {name}: {SNAPSHOTS_RHO} has shape {snapshots.shape}, expected {expected}", _HINT)
    return arrays


def _attr_problem(attrs: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    """What is wrong with the typed attribute values, or None: ranges, hex hash, params agreement."""
    for key in ATTR_FLOATS:
        if not (math.isfinite(attrs[key]) and (attrs[key] > 0 or key == "alpha")):
            return f"attribute {key}={attrs[key]!r} must be a finite number" + ("" if key == "alpha" else " > 0")
    for key in ATTR_INTS:
        if not 0 <= attrs[key] < 2**63:
            return f"attribute {key}={attrs[key]} must be a non-negative integer"
    if not isinstance(attrs["config_hash"], str) or not _HEX.fullmatch(attrs["config_hash"]):
        return f"attribute config_hash={attrs['config_hash']!r} must be lowercase hex"
    if not isinstance(attrs["code_version"], str) or not attrs["code_version"]:
        return "attribute code_version must be a non-empty string"
    clashes = [key for key in ATTR_FLOATS if key in params and params[key] != attrs[key]]
    if clashes:
        return f"params_json disagrees with attribute(s) {clashes}"
    return None


def _shown(value: Any) -> str:
    """``repr`` of an attribute value as Python would write it (``2``, not ``np.int64(2)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _first_line(err: BaseException) -> str:
    """The first line of an exception's text, so a SchemaError stays one line."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
