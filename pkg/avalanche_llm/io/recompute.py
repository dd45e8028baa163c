"""What ``runlab verify`` says when a stage's outputs are recomputed from its upstream runs: one problem
line per stored artifact that differs from its recomputation.

Tables are compared by value (column names, row count, then column by column): floats within
``rtol`` = 1e-9 of each other (NaN equals NaN), everything else exactly, so that a different BLAS
or pyarrow build writing other bytes for the same numbers is not a problem, while any changed number
is. Text artifacts (a LaTeX table) are compared byte for byte.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runlab import RunView

__all__ = ["RTOL", "bytes_problems", "table_problems"]

RTOL = 1e-9  # relative tolerance of a recomputed float against the stored one


def table_problems(view: RunView, recomputed: Mapping[str, pa.Table]) -> list[str]:
    """One line per parquet artifact of ``view`` (relative path -> its recomputed table) that differs."""
    problems = []
    for relative_path, table in recomputed.items():
        difference = _table_difference(pq.read_table(view.artifact_path(relative_path)), table)
        if difference is not None:
            problems.append(f"{relative_path}: the recomputed table differs: {difference}")
    return problems


def bytes_problems(view: RunView, recomputed: Mapping[str, bytes]) -> list[str]:
    """One line per artifact of ``view`` (relative path -> its recomputed bytes) whose bytes differ."""
    return [f"{relative_path}: the recomputed bytes differ" for relative_path, data in recomputed.items()
            if view.read_bytes(relative_path) != data]


def _table_difference(stored: pa.Table, recomputed: pa.Table) -> str | None:
    if stored.column_names != recomputed.column_names:
        return f"columns {stored.column_names}, recomputed {recomputed.column_names}"
    if stored.num_rows != recomputed.num_rows:
        return f"{stored.num_rows} rows, recomputed {recomputed.num_rows}"
    for name in stored.column_names:
        old, new = stored.column(name).to_pylist(), recomputed.column(name).to_pylist()
        if pa.types.is_floating(recomputed.schema.field(name).type):
            old_values = np.asarray([np.nan if value is None else value for value in old], dtype=np.float64)
            new_values = np.asarray([np.nan if value is None else value for value in new], dtype=np.float64)
            same = np.isclose(old_values, new_values, rtol=RTOL, atol=0.0, equal_nan=True)
        else:
            same = np.asarray([a == b for a, b in zip(old, new)], dtype=bool)
        if not same.all():
            row = int(np.argmin(same))
            return f"column {name}, first at row {row} (stored {old[row]!r}, recomputed {new[row]!r}), " \
                   f"{int((~same).sum())} of {len(same)} rows"
    return None
