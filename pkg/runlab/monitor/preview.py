"""The first rows of a table artifact (CSV or parquet) for the run page, read without loading the whole file."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PREVIEW_ROWS", "TablePreview", "preview_table"]

PREVIEW_ROWS = 50
_CELL_CHARS = 200
_CSV_READ_BYTES = 1 << 20  # a preview reads at most this much of a CSV


@dataclass(frozen=True)
class TablePreview:
    """``rows`` of ``columns`` (cells as text); ``total_rows`` None when not known without reading it all."""

    columns: list[str]
    rows: list[list[str]]
    total_rows: int | None
    error: str | None = None

    @property
    def truncated(self) -> bool:
        return self.total_rows is None or self.total_rows > len(self.rows)


def preview_table(path: Path, limit: int = PREVIEW_ROWS) -> TablePreview:
    """First ``limit`` rows of the ``.csv`` or ``.parquet`` file at ``path``; a file that does not parse
    gives an empty preview with ``error`` set, not an exception."""
    try:
        if path.suffix == ".parquet":
            return _parquet(path, limit)
        return _csv(path, limit)
    except Exception as exc:  # a damaged artifact is shown as such on the page
        return TablePreview([], [], 0, f"{type(exc).__name__}: {exc}")


def _parquet(path: Path, limit: int) -> TablePreview:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    columns = list(parquet.schema_arrow.names)
    rows: list[list[str]] = []
    for batch in parquet.iter_batches(batch_size=max(1, limit)):
        for record in batch.to_pylist():
            rows.append([_cell(record[name]) for name in columns])
        break
    return TablePreview(columns, rows[:limit], parquet.metadata.num_rows)


def _csv(path: Path, limit: int) -> TablePreview:
    with open(path, "rb") as handle:
        head = handle.read(_CSV_READ_BYTES)
        complete = not handle.read(1)
    lines = head.decode("utf-8", errors="replace").splitlines()
    if not complete:
        lines = lines[:-1]  # the last line may be cut
    parsed = list(csv.reader(io.StringIO("\n".join(lines[: limit + 1]))))
    if not parsed:
        return TablePreview([], [], 0)
    total = len(lines) - 1 if complete else None
    return TablePreview(parsed[0], [[_cell(value) for value in row] for row in parsed[1:]], total)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"
