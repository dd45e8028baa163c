"""Byte-stable rendering: same data gives the same bytes here and in a fresh interpreter, different
data gives different bytes, and every format reads back to the data it was given."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import matplotlib as mpl
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from matplotlib.figure import Figure
from PIL import Image

from runlab.formats import (
    as_arrow_table,
    csv_bytes,
    figure_bytes,
    hdf5_bytes,
    json_bytes,
    jsonl_bytes,
    parquet_bytes,
)

FLOATS = [0.1, -0.0, 1e-310, 5e-324, 1e300, 123456789.125, float("nan"), float("inf"), float("-inf")]
FLOATS32 = np.array(
    [0.1, -0.0, 1e-45, 3.4e38, 16777216.0, 1.5, float("nan"), float("inf"), float("-inf")], dtype=np.float32
)


def sample_table() -> dict[str, object]:
    """Columns in non-alphabetical order, with float edge cases, quoting cases and nulls."""
    return {
        "zeta": np.arange(len(FLOATS), dtype=np.int64),
        "x": np.array(FLOATS),
        "x32": FLOATS32,
        "label": ["a,b", 'say "hi"', "two\nlines", "", "ünï", None, "plain", " pad ", "z"],
        "flag": [True, False, None, True, True, False, False, True, None],
    }


def sample_log() -> dict[str, object]:
    grads = np.array([[1.5, -2.0], [0.0, 3.25]])
    return {"step": np.int64(3), "loss": np.float32(0.25), "grads": grads, "name": "ß"}


def sample_arrays() -> dict[str, np.ndarray]:
    field = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    return {"zz_field": field, "aa_mask": np.array([1, 0, 1], dtype=np.uint8)}


def sample_figure() -> Figure:
    """Lines, text with mathtext and non-ASCII, a hatch, an image and a legend under constrained layout."""
    fig = Figure(figsize=(3.2, 2.4), dpi=50, layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0.0, 6.0, 40)
    ax.plot(grid, np.sin(grid), label="sin ü")
    ax.bar([1.0, 2.0], [0.3, 0.5], hatch="//")
    ax.imshow(np.arange(16.0).reshape(4, 4), extent=(0, 1, 0, 1))
    ax.set_title(r"Tïtle $\alpha^2$")
    ax.legend()
    return fig


def rendered() -> dict[str, bytes]:
    """Every format rendered from the sample data."""
    table = sample_table()
    fig = sample_figure()
    return {
        "json": json_bytes(sample_log()),
        "jsonl": jsonl_bytes([sample_log(), {"step": 4}]),
        "csv": csv_bytes(table),
        "parquet": parquet_bytes(table),
        "hdf5": hdf5_bytes(sample_arrays(), {"units": "m/s", "n": 3, "dt_s": 0.125}),
        "pdf": figure_bytes(fig, "pdf"),
        "png": figure_bytes(fig, "png"),
    }


def digests() -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in rendered().items()}


# Run in a fresh interpreter with another hash seed: loads this file by path, after checking that
# importing runlab.formats did not pull in matplotlib or h5py.
_SUBPROCESS = """
import importlib.util, json, sys
import runlab.formats
heavy = sorted(name for name in ("matplotlib", "h5py") if name in sys.modules)
spec = importlib.util.spec_from_file_location("format_cases", sys.argv[1])
cases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cases)
print(json.dumps({"heavy_on_import": heavy, "digests": cases.digests()}))
"""


def test_same_data_gives_same_bytes_in_process_and_in_a_fresh_interpreter() -> None:
    here = digests()
    assert digests() == here
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    command = [sys.executable, "-c", _SUBPROCESS, str(Path(__file__))]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    fresh = json.loads(out.stdout)
    assert fresh["heavy_on_import"] == []
    assert fresh["digests"] == here


def test_different_data_gives_different_bytes() -> None:
    table = sample_table()
    changed = {**table, "x": np.array([0.1 + 1e-16, *FLOATS[1:]])}
    assert csv_bytes(changed) != csv_bytes(table)
    assert parquet_bytes(changed) != parquet_bytes(table)
    assert json_bytes({"a": 0.1}) != json_bytes({"a": 0.1 + 1e-16})
    assert jsonl_bytes([{"a": 1}]) != jsonl_bytes([{"a": 2}])
    arrays = sample_arrays()
    assert hdf5_bytes(arrays) != hdf5_bytes({**arrays, "aa_mask": np.array([1, 1, 1], dtype=np.uint8)})
    assert hdf5_bytes(arrays, {"n": 3}) != hdf5_bytes(arrays, {"n": 4})
    fig, other = sample_figure(), sample_figure()
    other.axes[0].set_title("another title")
    for fmt in ("pdf", "png"):
        assert figure_bytes(fig, fmt) != figure_bytes(other, fmt)


def test_as_arrow_table_keeps_order_and_rejects_ragged_or_2d_columns() -> None:
    table = as_arrow_table(sample_table())
    assert table.column_names == ["zeta", "x", "x32", "label", "flag"]
    assert table.schema.field("x32").type == pa.float32()
    assert as_arrow_table(table) is table
    with pytest.raises(ValueError, match="ragged columns.*'a': 2, 'b': 1"):
        as_arrow_table({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match=r"column 'm' has shape \(2, 2\)"):
        as_arrow_table({"m": np.eye(2)})
    with pytest.raises(ValueError, match="column 'mixed'"):
        as_arrow_table({"mixed": [1, "a"]})


def test_json_round_trips_in_key_order_with_numpy_converted() -> None:
    data = json_bytes(sample_log())
    assert data.endswith(b"}\n") and b'\n  "step": 3,' in data
    assert "ß".encode() in data
    loaded = json.loads(data)
    assert list(loaded) == ["step", "loss", "grads", "name"]
    assert loaded == {"step": 3, "loss": 0.25, "grads": [[1.5, -2.0], [0.0, 3.25]], "name": "ß"}


@pytest.mark.parametrize(
    ("obj", "where"),
    [
        ({"a": float("nan")}, r"\$\.a is nan"),
        ({"a": [1, {"b": np.array([1.0, np.inf])}]}, r"\$\.a\[1\]\.b\[1\] is inf"),
        ({"a": np.float32("-inf")}, r"\$\.a is -inf"),
    ],
)
def test_json_rejects_nan_and_infinity_naming_where(obj: object, where: str) -> None:
    with pytest.raises(ValueError, match=where + ", which JSON cannot hold"):
        json_bytes(obj)
    with pytest.raises(ValueError, match="JSON cannot hold"):
        jsonl_bytes([obj])


def test_json_rejects_values_without_a_json_form() -> None:
    with pytest.raises(TypeError, match=r"\$ has key 1; JSON object keys must be str"):
        json_bytes({1: "a"})
    with pytest.raises(TypeError, match=r"\$\.s is a set"):
        json_bytes({"s": {1, 2}})
    with pytest.raises(TypeError, match="record 0 is a list"):
        jsonl_bytes([[1, 2]])


def test_jsonl_is_one_compact_object_per_line() -> None:
    records = [sample_log(), {"text": "a\u2028b\nc"}, {}]
    data = jsonl_bytes(records)
    assert data.count(b"\n") == 3 and data.endswith(b"\n")
    lines = data.decode().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith('{"step":3,"loss":0.25,')
    assert [json.loads(line) for line in lines][1:] == [{"text": "a\u2028b\nc"}, {}]
    assert jsonl_bytes([]) == b""


def test_csv_round_trips_floats_exactly_and_quotes_only_where_needed() -> None:
    data = csv_bytes(sample_table())
    assert data.startswith(b"zeta,x,x32,label,flag\n0,0.1,0.1,\"a,b\",true\n")
    assert b"\r" not in data and data.endswith(b"\n")
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[0] == ["zeta", "x", "x32", "label", "flag"]
    body = rows[1:]
    np.testing.assert_array_equal([float(row[1]) for row in body], FLOATS)
    np.testing.assert_array_equal([np.float32(row[2]) for row in body], FLOATS32)
    assert [math.copysign(1.0, float(row[1])) for row in body][1] == -1.0
    assert [row[3] for row in body] == ["a,b", 'say "hi"', "two\nlines", "", "ünï", "", "plain", " pad ", "z"]
    assert [row[4] for row in body] == ["true", "false", "", "true", "true", "false", "false", "true", ""]
    assert b',"",' in data  # an empty string is quoted; a null is an empty field
    arrow = pacsv.read_csv(io.BytesIO(data))
    assert arrow.column("zeta").to_pylist() == list(range(len(FLOATS)))
    assert arrow.column("flag").to_pylist() == sample_table()["flag"]


def test_parquet_round_trips_with_pinned_options_whatever_the_chunking() -> None:
    table = sample_table()
    data = parquet_bytes(table)
    back = pq.read_table(io.BytesIO(data))
    assert back.schema.equals(as_arrow_table(table).schema)
    for name in ("zeta", "x", "x32"):
        np.testing.assert_array_equal(back.column(name).to_numpy(), np.asarray(table[name]))
    assert back.column("label").to_pylist() == table["label"]
    metadata = pq.read_metadata(io.BytesIO(data))
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert metadata.created_by.startswith("parquet-cpp-arrow version")
    arrow = as_arrow_table(table)
    rechunked = pa.concat_tables([arrow.slice(0, 2), arrow.slice(2, 3), arrow.slice(5)])
    assert rechunked.column(0).num_chunks == 3
    assert parquet_bytes(rechunked) == data


def test_hdf5_round_trips_in_given_order_without_timestamps() -> None:
    arrays = sample_arrays()
    data = hdf5_bytes(arrays, {"units": "m/s", "n": 3, "dt_s": 0.125})
    with h5py.File(io.BytesIO(data), "r") as h5:
        assert list(h5) == ["zz_field", "aa_mask"]
        for name, array in arrays.items():
            assert h5[name].dtype == array.dtype
            np.testing.assert_array_equal(h5[name][()], array)
            assert not h5[name].id.get_create_plist().get_obj_track_times()
        assert dict(h5.attrs) == {"units": "m/s", "n": 3, "dt_s": 0.125}
        assert list(h5.attrs) == ["units", "n", "dt_s"]
        assert h5.attrs["n"].dtype == np.int64
    with pytest.raises(TypeError, match="attribute 'ok' is a bool"):
        hdf5_bytes(arrays, {"ok": True})
    with pytest.raises(TypeError, match="attribute 'xs' is a list"):
        hdf5_bytes(arrays, {"xs": [1, 2]})


def test_pdf_is_valid_with_fixed_metadata() -> None:
    data = figure_bytes(sample_figure(), "pdf")
    assert data.startswith(b"%PDF-1.") and data.endswith(b"%%EOF\n")
    xref_at = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert data[xref_at:].startswith(b"xref")
    assert b"/CreationDate" not in data and b"/ID" not in data
    assert b"/Producer (matplotlib)" in data and b"/Creator (runlab)" in data


def test_png_is_valid_with_fixed_metadata_at_the_figure_dpi() -> None:
    data = figure_bytes(sample_figure(), "png")
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (160, 120))
        assert image.text == {"Software": "matplotlib"}
        assert image.getextrema()[0] == (0, 255)  # decodes, and draws more than the background


def test_figure_bytes_ignore_save_time_rc_params_and_leave_the_figure_and_pyplot_alone() -> None:
    fig = sample_figure()
    canvas = fig.canvas
    expected = {fmt: figure_bytes(fig, fmt) for fmt in ("pdf", "png")}
    overrides = {"savefig.dpi": 300, "savefig.bbox": "tight", "savefig.facecolor": "red", "pdf.fonttype": 3}
    with mpl.rc_context(overrides):
        assert {fmt: figure_bytes(fig, fmt) for fmt in ("pdf", "png")} == expected
    assert fig.canvas is canvas
    with pytest.raises(ValueError, match="figure format 'svg' is not supported"):
        figure_bytes(fig, "svg")


def test_figure_bytes_never_import_pyplot() -> None:
    # in a fresh interpreter: other tests' libraries (powerlaw, mrestimator) import pyplot here
    code = ("import sys\nfrom matplotlib.figure import Figure\nfrom runlab.formats import figure_bytes\n"
            "fig = Figure()\nfig.add_subplot().plot([0, 1])\nfigure_bytes(fig, 'png')\nfigure_bytes(fig, 'pdf')\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
