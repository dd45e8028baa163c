"""Tables as LaTeX ``booktabs`` tables for the paper, made from the same rows as their CSV and parquet.

The rows are the tables' own (spec/18), so the CSV, the parquet and the LaTeX can never disagree; NaN
is written as --, and a highlighted row (g* of the data) is set in bold. A value whose fit failed its
checks carries a dagger, and its fit column names the failed checks by the codes of ``STATUS_CODES``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

__all__ = ["STATUS_CODES", "T01_LATEX_COLUMNS", "T02_LATEX_COLUMNS", "T03_LATEX_COLUMNS", "latex_table",
           "status_legend", "summary_latex", "t01_caption", "t03_caption"]

Column = tuple[str, str, str]
"""(table column, LaTeX header, format). A format ``<fmt>|<status column>`` adds a dagger to the value when
that column of the row is not ``ok``; the format ``status`` writes a fit status as codes."""
STATUS_CODES = {"b_not_significant": "b", "m_at_bound": "bd", "m_undetermined": "se", "offset_dominates": "c",
                "no_decay": "F", "no_estimate": "none"}
"""Short codes of the failed MR fit checks (spec/12) for the LaTeX tables."""
Row = Mapping[str, Any]

T01_LATEX_COLUMNS: tuple[Column, ...] = (
    ("source", "source", "s"),
    ("gain", "$g$", ".2f"),
    ("b_tot_mr", "$b_{\\mathrm{tot}}$ (MR)", ".3f|b_tot_fit_status"),
    ("b_tot_mr_stderr", "$\\pm$", ".3f"),
    ("b_tot_fit_status", "fit", "status"),
    ("b_tot_conventional", "$r_1$", ".3f"),
    ("m_mr_layer_median", "median $m_\\ell$", ".3f"),
    ("n_layers_fit_ok", "layers ok", "d"),
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
    ("b_tot", "$b_{\\mathrm{tot}}$", ".3f|b_tot_fit_status"),
    ("b_tot_low", "low", ".3f"),
    ("b_tot_high", "high", ".3f"),
    ("b_tot_fit_status", "fit", "status"),
    ("acc", "acc", ".3f"),
    ("acc_low", "low", ".3f"),
    ("acc_high", "high", ".3f"),
    ("acc_norm", "acc\\_norm", ".3f"),
    ("perplexity", "perplexity", ".2f"),
    ("perplexity_low", "low", ".2f"),
    ("perplexity_high", "high", ".2f"),
)


def _cell(row: Row, column: str, fmt: str) -> str:
    value = row[column]
    if fmt == "status":
        return "ok" if value == "ok" else ",".join(STATUS_CODES.get(check, check) for check in value.split(";"))
    fmt, _, status_column = fmt.partition("|")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "--"
    text = format(value, fmt)
    if status_column and row[status_column] != "ok":
        text += "$^\\dagger$"
    return text.replace("_", "\\_") if fmt == "s" else text


def status_legend() -> str:
    """The caption sentence that explains the daggers and the codes."""
    codes = ", ".join(f"{code} = {check.replace('_', ' ')}" for check, code in STATUS_CODES.items())
    return (f"$^\\dagger$: the MR fit failed its checks (spec/12) and the value says nothing about propagation; "
            f"fit codes: {codes}.")


def _gstar_clause(gstar: Mapping[str, Any]) -> str:
    if gstar["outcome"] == "crossing":
        return (f"$g^\\ast = {gstar['gstar']:.3g}$ [{gstar['gstar_low']:.3g}, {gstar['gstar_high']:.3g}], "
                f"the row of the swept gain nearest it in bold")
    return gstar["message"].split(":")[0].replace("g*", "$g^\\ast$") + " (no row in bold)"


def _demo(note: str) -> str:
    return f"\\textbf{{{note}.}} " if note else ""


def t01_caption(gstar: Mapping[str, Any], note: str = "") -> str:
    """Caption of T01 from ``results/gstar.json``, led by the demo note of a demo model."""
    return (f"{_demo(note)}Branching ratios and avalanche exponents against gain; {_gstar_clause(gstar)}; null rows "
            f"are shuffles of the rasters at $g = {gstar['reference_gain']:g}$ (spec/12). {status_legend()}")


def t03_caption(gstar: Mapping[str, Any], note: str = "") -> str:
    """Caption of T03 from ``results/gstar.json``, led by the demo note of a demo model."""
    return (f"{_demo(note)}Total branching ratio, ARC accuracy and perplexity against gain with bootstrap intervals; "
            f"{_gstar_clause(gstar)} (spec/20, spec/21). {status_legend()}")


def latex_table(rows: Sequence[Row], columns: Sequence[Column], caption: str, label: str,
                bold: Callable[[Row], bool] = lambda row: False) -> str:
    """A complete ``table`` environment of ``rows``; rows for which ``bold`` holds are set in bold."""
    lines = ["\\begin{table}[t]", "\\centering", "\\small",
             "\\begin{tabular}{l" + "r" * (len(columns) - 1) + "}", "\\toprule",
             " & ".join(title for _, title, _ in columns) + " \\\\", "\\midrule"]
    for row in rows:
        cells = [_cell(row, column, fmt) for column, _, fmt in columns]
        if bold(row):
            cells = [f"\\textbf{{{cell}}}" for cell in cells]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{{label}}}", "\\end{table}", ""]
    return "\n".join(lines)


def summary_latex(rows: Sequence[Row], caption: str) -> str:
    """T01: the g* row of the data in bold."""
    return latex_table(rows, T01_LATEX_COLUMNS, caption, "tab:T01",
                       bold=lambda row: bool(row["is_gstar"]) and row["source"] == "data")
