"""Markdown tables as the benchmark scripts print them."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["print_table"]


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """``title``, then a Markdown table; cells that start with a digit are right-aligned."""
    cells = [[str(value) for value in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    print(f"\n{title}\n")
    for index, row in enumerate(cells):
        print("| " + " | ".join(value.rjust(width) if index and value[:1].isdigit() else value.ljust(width)
                                 for value, width in zip(row, widths)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
