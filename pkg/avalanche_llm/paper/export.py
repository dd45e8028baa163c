"""Table T01 as a LaTeX ``booktabs`` table (``tables/table_T01_SUMMARY.tex``), for the paper.

The rows are T01's own (spec/18), so the CSV, the parquet and the LaTeX can never disagree; NaN is
written as an en dash, g* is set in bold.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["T01_LATEX_COLUMNS", "summary_latex"]

# (T01 column, LaTeX header, format)
T01_LATEX_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("source", "source", "s"),
    ("gain", "$g$", ".2f"),
    ("b_tot_mr", "$b_{\\mathrm{tot}}$ (MR)", ".3f"),
    ("b_tot_mr_stderr", "$\\pm$", ".3f"),
    ("b_tot_conventional", "$r_1$", ".3f"),
    ("m_mr_layer_median", "median $m_\\ell$", ".3f"),
    ("n_avalanches", "avalanches", "d"),
    ("tau_median", "$\\tau$", ".2f"),
    ("alpha_median", "$\\alpha$", ".2f"),
    ("gamma_fit_median", "$\\gamma$ fit", ".2f"),
    ("gamma_pred_median", "$\\gamma$ pred.", ".2f"),
    ("p_gof_size_median", "$p_{\\mathrm{gof}}$", ".2f"),
)


def _cell(value: Any, fmt: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "--"
    text = format(value, fmt)
    return text.replace("_", "\\_") if fmt == "s" else text


def summary_latex(rows: Sequence[Mapping[str, Any]], caption: str) -> str:
    """A complete ``table`` environment of T01 ``rows``; the g* row of the data is bold."""
    header = " & ".join(title for _, title, _ in T01_LATEX_COLUMNS)
    lines = ["\\begin{table}[t]", "\\centering", "\\small",
             "\\begin{tabular}{l" + "r" * (len(T01_LATEX_COLUMNS) - 1) + "}", "\\toprule", header + " \\\\",
             "\\midrule"]
    for row in rows:
        cells = [_cell(row[column], fmt) for column, _, fmt in T01_LATEX_COLUMNS]
        if row["is_gstar"] and row["source"] == "data":
            cells = [f"\\textbf{{{cell}}}" for cell in cells]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{caption}}}", "\\label{tab:T01}", "\\end{table}", ""]
    return "\n".join(lines)
