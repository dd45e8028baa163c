"""The run table's columns and their order: newest start first by default, and sortable by any column.

A :class:`Column` is a query name (``?sort=<name>``), a header and the key of a row in that column (a
string or a number; None for no value). The server sorts rows by those keys (:meth:`RowOrder.sort`); the
row template writes a row's keys, one per column in the order of ``COLUMNS``, as a JSON array into the
row's ``data-sort`` attribute (the ``sort_keys`` filter), and the page's script sorts by those, so the
order of the server and of the script are the same by construction. Rows without a key go last whichever
the direction; rows with equal keys go by run id. A new column of the run table is a ``Column`` in
``COLUMNS`` and a ``<td>`` at the same place in ``templates/row.html``; its header and sorting follow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Sequence

from .index import RunRow

__all__ = ["COLUMNS", "DEFAULT_ORDER", "BadOrder", "Column", "RowOrder", "sort_keys"]

Key = str | float | None


@dataclass(frozen=True)
class Column:
    """One column of the run table; ``key(row, now)`` is what it sorts by (None: no value, sorted last). The
    keys of one column are all strings or all numbers."""

    name: str
    label: str
    key: Callable[[RunRow, datetime], Key]


def _text(value: str) -> str | None:
    return None if value in ("", "-") else value


def _seconds(value: float | None) -> float | None:
    """A finite number of seconds, else None (NaN would not sort, nor survive JSON in the browser)."""
    return value if value is not None and math.isfinite(value) else None


COLUMNS: tuple[Column, ...] = (
    Column("study", "study", lambda row, now: _text(row.study)),
    Column("stage", "stage", lambda row, now: _text(row.stage)),
    Column("run_id", "run id", lambda row, now: row.run_id),
    Column("status", "status", lambda row, now: row.problem or row.status),
    Column("verdict", "verdict", lambda row, now: _text(row.verdict)),
    Column("slurm", "SLURM", lambda row, now: _text(row.slurm)),
    # a readable record's start is always 2026-01-02T03:04:05.678901Z (fixed width): its text sorts as time
    Column("started", "started (UTC)", lambda row, now: _text(row.started_utc)),
    Column("elapsed", "elapsed", lambda row, now: _seconds(row.elapsed_at(now))),
    Column("host", "host", lambda row, now: _text(row.host)),
    Column("config", "config", lambda row, now: _text(row.config)),
)
_BY_NAME = {column.name: column for column in COLUMNS}


def sort_keys(row: RunRow, now: datetime) -> str:
    """The ``data-sort`` attribute of ``row``: its key in each column of ``COLUMNS``, as a JSON array."""
    return json.dumps([column.key(row, now) for column in COLUMNS], ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


class BadOrder(ValueError):
    """A ``sort`` or ``order`` query parameter that names no column or direction."""


@dataclass(frozen=True)
class RowOrder:
    """Rows by ``column``, ``descending`` or ascending; the default is the newest start first."""

    column: str = "started"
    descending: bool = True

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "RowOrder":
        """``?sort=<column>&order=asc|desc``: ``order`` defaults to ``asc`` when ``sort`` is given, and both
        missing is the default order. Raises :class:`BadOrder` for an unknown column or direction."""
        column, direction = query.get("sort"), query.get("order")
        if column is not None and column not in _BY_NAME:
            raise BadOrder(f"sort must be one of {', '.join(_BY_NAME)}, not {column[:40]!r}")
        if direction not in (None, "asc", "desc"):
            raise BadOrder(f"order must be asc or desc, not {direction[:40]!r}")
        if column is None and direction is None:
            return cls()
        return cls(column or cls.column, direction == "desc")

    @property
    def aria_sort(self) -> str:
        return "descending" if self.descending else "ascending"

    def query(self) -> dict[str, str]:
        """The query parameters that ask for this order."""
        return {"sort": self.column, "order": "desc" if self.descending else "asc"}

    def after_click(self, column: str) -> "RowOrder":
        """The order a click on ``column``'s header asks for: the other direction of the column sorted by,
        ascending for another column."""
        return RowOrder(column, not self.descending) if column == self.column else RowOrder(column, False)

    def sort(self, rows: Sequence[RunRow], now: datetime) -> list[RunRow]:
        """``rows`` in this order at ``now`` (which the elapsed time of running runs depends on)."""
        column = _BY_NAME[self.column]
        keyed = [(column.key(row, now), row) for row in sorted(rows, key=lambda row: row.run_id)]
        present = [(value, row) for value, row in keyed if value is not None]
        present.sort(key=lambda pair: pair[0], reverse=self.descending)  # type: ignore[arg-type,return-value]
        # stable in either direction: rows with equal keys stay in run-id order
        return [row for _, row in present] + [row for value, row in keyed if value is None]


DEFAULT_ORDER = RowOrder()
