"""Render data to bytes so that the same data always gives the same bytes.

Every function here is pure: no clock, no hostname, no hash salt and no global state reaches the
output, so a run store can hash what it writes and a rerun with the same package versions gives
identical files. Writing the bytes to disk (atomically) is the run store's job, not this module's.
matplotlib and h5py are imported inside the functions that need them to keep ``import runlab`` fast.
"""

from __future__ import annotations

import copy
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "TableLike",
    "as_arrow_table",
    "csv_bytes",
    "figure_bytes",
    "hdf5_bytes",
    "json_bytes",
    "jsonl_bytes",
    "parquet_bytes",
]

TableLike = Union[pa.Table, Mapping[str, Union[Sequence[Any], np.ndarray]]]

# Every writer option spelled out, so that a change of pyarrow's defaults cannot change the bytes.
# The footer's `created_by` ("parquet-cpp-arrow version X") is fixed per pyarrow version and
# cannot be set from Python; nothing else in the file depends on time or host.
_PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "row_group_size": 1 << 20,
    "write_batch_size": 1024,
    "dictionary_pagesize_limit": 1 << 20,
    "use_byte_stream_split": False,
    "store_schema": True,
    "write_page_index": False,
    "write_page_checksum": False,
    "use_content_defined_chunking": False,
}

# HDF5 format versions pinned (not "latest", which moves with the library): files read with
# HDF5 >= 1.10.
_HDF5_LIBVER = ("v110", "v110")

# savefig arguments per format. PDF: no CreationDate (matplotlib stamps the wall clock otherwise),
# and a Creator and Producer without the matplotlib version; matplotlib writes no /ID. PNG: rendered
# by Agg, a fixed Software text chunk, no tIME chunk, fixed zlib level.
_FIGURE_SAVE: dict[str, dict[str, Any]] = {
    "pdf": {
        "backend": "pdf",
        "metadata": {"CreationDate": None, "Creator": "runlab", "Producer": "matplotlib"},
    },
    "png": {"backend": "agg", "metadata": {"Software": "matplotlib"}, "pil_kwargs": {"compress_level": 6}},
}

# The rcParams that savefig and the PDF writer read at save time (not when the figure is built),
# pinned so that a matplotlibrc or an rc_context around the call cannot change the bytes: no tight
# bbox, the figure's own dpi and facecolor, TrueType (Type 42) fonts embedded in PDFs.
_FIGURE_RC = {
    "savefig.dpi": "figure",
    "savefig.facecolor": "auto",
    "savefig.edgecolor": "auto",
    "savefig.transparent": False,
    "savefig.bbox": "standard",
    "savefig.pad_inches": 0.1,
    "pdf.compression": 6,
    "pdf.fonttype": 42,
    "pdf.use14corefonts": False,
    "pdf.inheritcolor": False,
    "image.composite_image": True,
}

# str.splitlines() breaks lines at these too; JSONL escapes them so one record stays one line.
_JSONL_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_CSV_SPECIALS = frozenset(',"\n\r')


def as_arrow_table(table: TableLike) -> pa.Table:
    """Return ``table`` as a pyarrow Table, columns in the order given; every column is 1-D and
    all have one length (a ragged or 2-D column is a ValueError naming it)."""
    if isinstance(table, pa.Table):
        return table
    if not isinstance(table, Mapping):
        kind = type(table).__name__
        raise TypeError(f"expected a pyarrow.Table or a mapping of column name to values, got {kind}")
    columns = {}
    for name, values in table.items():
        if not isinstance(name, str):
            raise TypeError(f"column names must be str, got {name!r}")
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise ValueError(f"column {name!r} has shape {values.shape}; columns must be one-dimensional")
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise ValueError(f"column {name!r} cannot be converted to an Arrow array: {err}") from err
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"ragged columns: every column needs the same length, got {lengths}")
    return pa.table(columns)


def json_bytes(obj: Any) -> bytes:
    """UTF-8 JSON, indent 2, keys in the order given, trailing LF. NumPy scalars and arrays become
    plain numbers and lists; NaN or infinity is a ValueError naming where it sits."""
    text = json.dumps(_plain(obj, "$"), ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def jsonl_bytes(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per record, each line LF-terminated; conversions as `json_bytes`."""
    lines = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"record {index} is a {type(record).__name__}; JSONL records must be mappings")
        plain = _plain(record, f"$[{index}]")
        text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        lines.append(text.translate(_JSONL_LINE_BREAKS) + "\n")
    return "".join(lines).encode("utf-8")


def csv_bytes(table: TableLike) -> bytes:
    """UTF-8 CSV: a header, then one LF-terminated line per row. Floats are written as the shortest
    text that reads back to the same value at their width ("nan", "inf", "-inf" included); null is an
    empty field, an empty string is ``""``; fields are quoted only where needed."""
    arrow = as_arrow_table(table)
    columns = [_csv_cells(arrow.column(i), name) for i, name in enumerate(arrow.column_names)]
    lines = [",".join(_csv_quote(name) for name in arrow.column_names)]
    lines.extend(",".join(row) for row in zip(*columns))
    return ("\n".join(lines) + "\n").encode("utf-8")


def parquet_bytes(table: TableLike) -> bytes:
    """Parquet file bytes with every writer option fixed (zstd level 3, 2^20-row groups); the
    chunking of the input does not change the bytes."""
    buffer = pa.BufferOutputStream()
    pq.write_table(as_arrow_table(table).combine_chunks(), buffer, **_PARQUET_OPTIONS)
    return buffer.getvalue().to_pybytes()


def hdf5_bytes(
    arrays: Mapping[str, np.ndarray],
    attrs: Mapping[str, str | int | float] | None = None,
) -> bytes:
    """HDF5 file bytes: one contiguous dataset per array and root attributes, both kept in the order
    given, no object timestamps, format versions pinned to HDF5 1.10. Written to an in-memory file."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=_HDF5_LIBVER, track_order=True, track_times=False) as h5:
        for name, array in arrays.items():
            h5.create_dataset(name, data=np.asarray(array), track_times=False)
        for key, value in (attrs or {}).items():
            h5.attrs[key] = _hdf5_attr(key, value)
    return buffer.getvalue()


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure rendered as ``fmt`` ("pdf" or "png") with fixed metadata and save options; PNG at
    the figure's own dpi through Agg. Neither pyplot nor the figure's canvas is changed."""
    import matplotlib as mpl

    if fmt not in _FIGURE_SAVE:
        raise ValueError(f"figure format {fmt!r} is not supported; use one of {sorted(_FIGURE_SAVE)}")
    buffer = io.BytesIO()
    with mpl.rc_context(_FIGURE_RC):
        fig.savefig(buffer, format=fmt, **copy.deepcopy(_FIGURE_SAVE[fmt]))  # savefig edits pil_kwargs
    return buffer.getvalue()


def _plain(value: Any, path: str) -> Any:
    """``value`` as plain JSON types (dict with str keys, list, str, int, float, bool, None)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value!r}, which JSON cannot hold; store null or a string instead")
        return value
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{path} has key {key!r}; JSON object keys must be str")
        return {key: _plain(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{path} is a {type(value).__name__}, which has no JSON form")


def _csv_cells(column: pa.ChunkedArray, name: str) -> list[str]:
    """The CSV text of every cell of one column, null as an empty field."""
    if pa.types.is_floating(column.type):
        width = column.type.to_pandas_dtype()
        return ["" if value is None else _float_text(width(value)) for value in column.to_pylist()]
    try:
        texts = pc.cast(column, pa.string()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise TypeError(f"column {name!r} of type {column.type} has no CSV form: {err}") from err
    return ["" if text is None else _csv_quote(text) for text in texts]


def _float_text(value: np.floating) -> str:
    """Shortest decimal text that reads back to the same value at the value's own width."""
    return repr(float(value)) if value.dtype == np.float64 else str(value)


def _csv_quote(text: str) -> str:
    """``text`` as one CSV field, quoted when empty or holding a comma, quote or line break."""
    if text and _CSV_SPECIALS.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def _hdf5_attr(key: str, value: str | int | float) -> str | np.int64 | np.float64:
    """An attribute value with a fixed HDF5 type: UTF-8 string, int64 or float64."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"attribute {key!r} is a bool; store it as int 0/1 or a string")
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    raise TypeError(f"attribute {key!r} is a {type(value).__name__}; use str, int or float")
