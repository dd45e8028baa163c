"""Tables as LaTeX ``booktabs`` tables for the paper, made from the same rows as their CSV and parquet.

The rows are the tables' own (spec/18), so the CSV, the parquet and the LaTeX can never disagree; NaN
is written as --, and a highlighted row (g* of the data) is set in bold.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

__all__ = ["T01_LATEX_COLUMNS", "T02_LATEX_COLUMNS", "T03_LATEX_COLUMNS", "latex_table", "summary_latex"]

Column = tuple[str, str, str]  # (table column, LaTeX header, format)
Row = Mapping[str, Any]

T01_LATEX_COLUMNS: tuple[Column, ...] = (
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
T02_LATEX_COLUMNS: tuple[Column, ...] = (
    ("performance_metric", "performance", "s"),
    ("n_gains", "gains", "d"),
    ("rho", "Spearman $\\rho$", ".3f"),
    ("low", "low", ".3f"),
    ("high", "high", ".3f"),
    ("p_permutation", "$p$", ".4f"),
    ("p_holm", "$p_{\\mathrm{Holm}}$", ".4f"),
)
T03_LATEX_COLUMNS: tuple[Column, ...] = (
    ("gain", "$g$", ".2f"),
    ("b_tot", "$b_{\\mathrm{tot}}$", ".3f"),
    ("b_tot_low", "low", ".3f"),
    ("b_tot_high", "high", ".3f"),
    ("acc", "acc", ".3f"),
    ("acc_low", "low", ".3f"),
    ("acc_high", "high", ".3f"),
    ("acc_norm", "acc\\_norm", ".3f"),
    ("perplexity", "perplexity", ".2f"),
    ("perplexity_low", "low", ".2f"),
    ("perplexity_high", "high", ".2f"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "--"
    text = format(value, fmt)
    return text.replace("_", "\\_") if fmt == "s" else text


def latex_table(rows: Sequence[Row], columns: Sequence[Column], caption: str, label: str,
                bold: Callable[[Row], bool] = lambda row: False) -> str:
    """A complete ``table`` environment of ``rows``; rows for which ``bold`` holds are set in bold."""
    lines = ["\\begin{table}[t]", "\\centering", "\\small",
             "\\begin{tabular}{l" + "r" * (len(columns) - 1) + "}", "\\toprule",
             " & ".join(title for _, title, _ in columns) + " \\\\", "\\midrule"]
    for row in rows:
        cells = [_cell(row[column], fmt) for column, _, fmt in columns]
        if bold(row):
            cells = [f"\\textbf{{{cell}}}" for cell in cells]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{{label}}}", "\\end{table}", ""]
    return "\n".join(lines)


def summary_latex(rows: Sequence[Row], caption: str) -> str:
    """T01: the g* row of the data in bold."""
    return latex_table(rows, T01_LATEX_COLUMNS, caption, "tab:T01",
                       bold=lambda row: bool(row["is_gstar"]) and row["source"] == "data")
