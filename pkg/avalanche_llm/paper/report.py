"""``results/REPORT.md`` of S08: what was run, the headline numbers, every table and figure of the
export, and every run it stands on with the sha256 of each artifact. Deterministic: it holds no
time stamps, so a rerun of the same config gives the same bytes."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from runlab import RunView, artifact_digest, is_runtime_log

__all__ = ["report_markdown"]

Row = Mapping[str, Any]


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _markdown_table(rows: Sequence[Row], columns: Sequence[str], digits: int = 3) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_number(row[column], digits) for column in columns) + " |" for row in rows]
    return lines


def _flagged(rows: Sequence[Row], value: str, status: str) -> list[dict[str, Any]]:
    """Copies of ``rows`` whose ``value`` carries a dagger where its fit ``status`` is not ``ok``."""
    return [{**row, value: row[value] if row[status] == "ok" else f"{_number(row[value])} †"} for row in rows]


def _failed_fits(t01: Sequence[Row], t03: Sequence[Row]) -> list[str]:
    """One bullet per failed MR fit of the total activity (data and nulls), and per gain with failed layer fits."""
    lines = [f"- b_tot of `{row['source']}` at g = {row['gain']:g}: {row['b_tot_fit_status'].replace(';', ', ')}"
             for row in t01 if row["b_tot_fit_status"] != "ok"]
    lines += [f"- bootstrap interval of b_tot at g = {row['gain']:g} (T03, F05) comes from a failed fit: "
              f"{row['b_tot_fit_status'].replace(';', ', ')}" for row in t03 if row["b_tot_fit_status"] != "ok"]
    return lines or ["- none: every MR fit of the total activity passed its checks."]


def report_markdown(config: Mapping[str, Any], runs: Mapping[str, RunView], gstar: Mapping[str, Any],
                    t01: Sequence[Row], t02: Sequence[Row], t03: Sequence[Row], outputs: Mapping[str, str],
                    note: str = "") -> str:
    """The report; ``note`` is the demo note of a demo model (``model.demo.demo_note``), set above everything."""
    study = config["avalanche_llm"]
    demo = [f"**{note}.**", ""] if note else []
    model = runs["S01"].annotations.get("model", {})
    text = runs["S01"].annotations.get("text", {})
    arc = runs["S06ARC"].annotations.get("arc", {})
    accuracy = next(row for row in t02 if row["performance_metric"] == "acc")
    lines = [
        "# avalanche_llm: neuronal avalanches against gain, and what the model can do",
        "",
        *([f"> **{note}.** Every table and figure below carries this note.", ""] if note else []),
        "Assembled by phase 8 (S08) from the artifacts of the runs listed at the end, each of which passed "
        "`runlab verify` (rehash, record, stage verifier) first. Nothing here ran the model.",
        "",
        "## What was run",
        "",
        f"- Model `{study['model']['hf_id']}` ({model.get('model_type', '?')}, {model.get('n_layers', '?')} blocks "
        f"× {model.get('hidden', '?')} units, weights digest `{str(model.get('weights_digest', '?'))[:16]}`), "
        f"{study['runtime']['dtype']} on {study['runtime']['device']}.",
        f"- Text `{study['text']['source']}` (sha256 `{str(text.get('sha256', '?'))[:16]}`): "
        f"{study['text']['analysis_sequences']} analysis windows of {study['text']['sequence_tokens']} tokens, "
        f"slice `{str(text.get('indices_sha256', '?'))[:16]}`.",
        f"- Gains {', '.join(f'{g:g}' for g in study['gain']['values'])}; spike rate "
        f"{study['events']['target_rate']:g} per unit and token in every layer at every gain.",
        f"- ARC `{arc.get('dataset', '?')}` {arc.get('config', '?')}/{arc.get('split', '?')}: {arc.get('items', '?')} "
        f"items (file sha256 `{str(arc.get('sha256', '?'))[:16]}`).",
        "",
        "## Headline",
        "",
        f"- {gstar['message']} ({gstar['method']}, spec/08). The nulls and the rows in bold are at the swept "
        f"gain g = {gstar['reference_gain']:g}: b_tot = {_number(gstar['b_tot'])} ± {_number(gstar['b_tot_stderr'])}, "
        f"fit {gstar['b_tot_fit_status']}.",
        f"- |b_tot − 1| against ARC accuracy over {accuracy['n_gains']} gains: Spearman ρ = "
        f"{_number(accuracy['rho'])} [{_number(accuracy['low'])}, {_number(accuracy['high'])}], permutation "
        f"p = {_number(accuracy['p_permutation'], 4)}, Holm p = {_number(accuracy['p_holm'], 4)} (four "
        "performance metrics, spec/21), over the gains whose MR fit passed its checks only. With this few gains "
        "the test has little power: read the intervals.",
        "",
        "## Fits that failed their checks",
        "",
        "A value marked † below comes from an MR fit that failed the checks of spec/12 (b not above two "
        "standard errors, m at the bound of its range, m undetermined, offset dominating, no decay against the "
        "offset alone): it is shown, but it says nothing about propagation and is never a candidate for g*.",
        "",
        *_failed_fits(t01, t03),
        "",
        f"## Table T03: behaviour against gain (`tables/{outputs['t03']}.csv`, `.parquet`, `.tex`)",
        "",
        *demo,
        *_markdown_table(_flagged(t03, "b_tot", "b_tot_fit_status"),
                         ["gain", "is_gstar", "b_tot", "b_tot_low", "b_tot_high", "b_tot_fit_status", "acc", "acc_low",
                          "acc_high", "perplexity", "perplexity_low", "perplexity_high"]),
        "",
        f"## Table T02: criticality against performance (`tables/{outputs['t02']}.csv`, `.parquet`, `.tex`)",
        "",
        *demo,
        *_markdown_table(t02, ["performance_metric", "n_gains", "rho", "low", "high", "p_permutation", "p_holm"]),
        "",
        f"## Table T01: avalanche summary (`tables/{outputs['t01']}.csv`, `.parquet`, `.tex`)",
        "",
        *demo,
        *_markdown_table(_flagged(t01, "b_tot_mr", "b_tot_fit_status"),
                         ["source", "gain", "is_gstar", "b_tot_mr", "b_tot_mr_stderr", "b_tot_fit_status",
                          "b_tot_conventional", "m_mr_layer_median", "n_layers_fit_ok", "n_avalanches", "tau_median",
                          "alpha_median", "gamma_fit_median", "p_gof_size_median"]),
        "",
        "## Figures",
        "",
        *demo,
        *(f"![{key.upper()}](../figs/{outputs[key]}.png) (`figs/{outputs[key]}.pdf`)" for key in ("f03", "f04", "f05")),
        "",
        "## Runs used",
        "",
        "| stage | run id | config sha256 | artifacts | artifact-index digest | verifier |",
        "|---|---|---|---|---|---|",
        *(f"| {tag} | `{view.run_id}` | `{view.record['config_hash'][:16]}` | {len(_computed(view))} | "
          f"`{artifact_digest(view.record)[:16]}` | {view.record['verifier'] or '–'} |" for tag, view in runs.items()),
        "",
        "### Every artifact",
        "",
    ]
    for tag, view in runs.items():
        lines += [f"**{tag}** `{view.run_id}`", "", "| artifact | bytes | sha256 |", "|---|---|---|"]
        lines += [f"| `{entry['relative_path']}` | {entry['bytes']} | `{entry['sha256']}` |" for entry in _computed(view)]
        lines.append("")
    return "\n".join(lines)


def _computed(view: RunView) -> list[Mapping[str, Any]]:
    """A run's artifacts less the runtime's logs of how it went, which differ between equal computations."""
    return [entry for entry in view.record["artifact_index"] if not is_runtime_log(entry["relative_path"])]
