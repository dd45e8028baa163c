"""Validation against the specs: run records (spec/14, runlab's schema), result tables (spec/18) and
figures (spec/19).

Specs 18 and 19 keep their skeletons in fenced blocks (```` ```yaml skeleton ```` and
```` ```yaml figure ````), read here, so a table or figure that drifts from its spec fails when it is
written, not when a reader notices.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping, Sequence

import pyarrow as pa

from runlab import SchemaError, TableLike, as_arrow_table, load_yaml_text, validate_record

from ..canon import project_root

__all__ = ["figure_spec", "table_from_rows", "table_spec", "validate_figure", "validate_record", "validate_table"]

_TYPES = {"float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_(), "string": pa.string()}


@lru_cache(maxsize=None)
def _blocks(spec_name: str, info: str) -> Mapping[str, Any]:
    path = project_root() / "spec" / spec_name
    merged: dict[str, Any] = {}
    for block in re.findall(rf"^```yaml {info}[ \t]*\n(.*?)^```[ \t]*$", path.read_text(encoding="utf-8"),
                            re.MULTILINE | re.DOTALL):
        merged.update(load_yaml_text(block, str(path)))
    return merged


def table_spec(name: str) -> Mapping[str, Any]:
    """The skeleton of table ``name`` in spec/18: ``artifact`` and ``columns`` (name -> type)."""
    specs = _blocks("18_RESULTS_TABLE_SKELETONS.md", "skeleton")
    if name not in specs:
        raise SchemaError(f"table {name} has no skeleton in spec/18", "add it there before writing it")
    return specs[name]


def figure_spec(name: str) -> Mapping[str, Any]:
    specs = _blocks("19_FIGURES_TABLES_PLAN.md", "figure")
    if name not in specs:
        raise SchemaError(f"figure {name} has no plan in spec/19", "add it there before drawing it")
    return specs[name]


def validate_table(name: str, table: TableLike) -> pa.Table:
    """``table`` as Arrow with exactly spec/18's columns, in its order and types; else SchemaError."""
    arrow = as_arrow_table(table)
    columns = table_spec(name)["columns"]
    if arrow.column_names != list(columns):
        raise SchemaError(f"table {name} has columns {arrow.column_names}, spec/18 says {list(columns)}",
                          "make the table and its skeleton agree")
    for column, type_name in columns.items():
        if arrow.schema.field(column).type != _TYPES[type_name]:
            raise SchemaError(f"table {name} column {column} is {arrow.schema.field(column).type}, spec/18 says "
                              f"{type_name}", "make the table and its skeleton agree")
    return arrow


def table_from_rows(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows (mappings with at least spec/18's columns of ``name``) as a validated Arrow table."""
    columns = table_spec(name)["columns"]
    return validate_table(name, pa.table({column: pa.array([row[column] for row in rows], type=_TYPES[type_name])
                                          for column, type_name in columns.items()}))


def validate_figure(name: str, figure: Any) -> None:
    """The figure has spec/19's number of panels and, on its first panel, its axis labels and curves."""
    plan = figure_spec(name)
    axes = figure.get_axes()
    if len(axes) != plan["panels"]:
        raise SchemaError(f"figure {name} has {len(axes)} panels, spec/19 says {plan['panels']}", "fix the figure")
    first = axes[0]
    for what, actual in (("xlabel", first.get_xlabel()), ("ylabel", first.get_ylabel())):
        if actual != plan[what]:
            raise SchemaError(f"figure {name} {what} is {actual!r}, spec/19 says {plan[what]!r}", "fix the figure")
    labels = {line.get_label() for line in first.get_lines()}
    missing = [label for label in plan["curves"] if label not in labels]
    if missing:
        raise SchemaError(f"figure {name} lacks the curves {missing} that spec/19 requires", "fix the figure")

