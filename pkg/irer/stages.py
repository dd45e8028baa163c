"""The hunt's stages (``jobs/irer.yaml``): one GEN link per generation, then REPORT.

A generation breeds its candidates from the ledger of the generation before it (found by run id,
as its upstream), integrates them as one vmapped program chunk by chunk, writes each candidate's raw
arrays as an HDF5 artifact, scores every artifact with the independent validator, and writes the
ledger of all generations so far. A requeued generation keeps the candidates already written.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from runlab import Run, RunView

from .artifacts import candidate_hdf5_bytes, read_candidate
from .hunter import initial_population, next_generation
from .ledger import (METRIC_COLUMNS, append_generations, best, empty_ledger, generation_rows, generation_summary,
                     ledger_bytes, read_ledger, top_candidates)
from .model import candidate_keys
from .population import run_population
from .settings import HuntSettings
from .validator import candidate_metrics, fitness

__all__ = ["report", "run_generation"]

LEDGER = "results/ledger.parquet"


def run_generation(run: Run) -> None:
    """GEN<g>: breed, integrate, store raw arrays, validate, extend the ledger."""
    settings = HuntSettings.from_config(run.config)
    generation = run.chain_index
    previous = run.previous_link()
    names = settings.prior.names
    ledger = read_ledger(previous.read_bytes(LEDGER), names) if previous else empty_ledger(names)
    params = (initial_population(settings.prior, settings.ga, generation) if generation == 0
              else next_generation(ledger, settings.prior, settings.ga, generation))
    artifacts = [f"data/candidates/g{generation:04d}_c{index:04d}.h5" for index in range(len(params))]
    _integrate_missing(run, settings, generation, params, artifacts)

    view = run.view()
    metrics = [candidate_metrics(read_candidate(view.read_bytes(path)), settings=settings.validator)
               for path in artifacts]
    scores = [fitness(m, settings.lambda_falsifiability) if m["finite"] else math.nan for m in metrics]
    rows = generation_rows(generation, params, param_names=names,
                           metrics={name: [m[name] for m in metrics] for name in METRIC_COLUMNS},
                           fitness=scores, run_id=run.run_id, artifacts=artifacts,
                           finite=[m["finite"] for m in metrics])
    ledger = append_generations(ledger, rows)
    run.write_bytes(LEDGER, ledger_bytes(ledger))
    run.write_table("top_candidates", top_candidates(rows, settings.top_candidates))
    summary = generation_summary(ledger).to_pylist()[-1]
    run.write_json("results/generation_summary.json", _json_safe(summary))
    _say(f"GEN{generation:03d} best fitness {summary['best_fitness']:.4g}, median {summary['median_fitness']:.4g}, "
         f"{summary['n_finite']}/{summary['n_candidates']} finite, best so far {summary['best_fitness_so_far']:.4g}")


def report(run: Run) -> None:
    """REPORT: fitness across generations and the best candidate's fields, from the last generation's ledger."""
    from matplotlib.figure import Figure

    last = run.upstream(run.upstream_tags[-1])
    ledger = read_ledger(last.read_bytes(LEDGER))
    summary = generation_summary(ledger)
    run.write_table("generation_summary", summary)
    run.write_table("top_candidates", top_candidates(ledger, int(run.config["irer"]["hunt"]["top_candidates"])))

    figure = Figure(figsize=(5, 3.2))
    axes = figure.add_subplot()
    columns = summary.to_pydict()
    for name, style in (("best_fitness", "o-"), ("median_fitness", "s--"), ("best_fitness_so_far", "k:")):
        axes.plot(columns["generation"], columns[name], style, label=name.replace("_", " "))
    axes.set_xlabel("generation")
    axes.set_ylabel("fitness")
    axes.legend(fontsize=7)
    figure.tight_layout()
    run.write_figure("fitness_by_generation", figure)

    top = best(ledger)
    if top is None:
        _say("REPORT no candidate has a finite fitness; no best-candidate figure")
        return
    arrays = read_candidate(_generation_view(run, top["run_id"]).read_bytes(top["artifact"]))
    figure = Figure(figsize=(7, 3.2))
    for position, (field, title) in enumerate(((arrays.final_rho, "|ψ|²"), (arrays.final_g_tt, "g_tt")), start=1):
        axes = figure.add_subplot(1, 2, position)
        image = axes.imshow(field, cmap="magma" if position == 1 else "viridis", origin="lower")
        axes.set_title(f"{title}, generation {top['generation']} candidate {top['candidate']}", fontsize=8)
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    run.write_figure("best_candidate_field", figure)
    _say(f"REPORT best fitness {top['fitness']:.4g}: generation {top['generation']} candidate {top['candidate']} "
         f"({top['run_id']})")


def _integrate_missing(run: Run, settings: HuntSettings, generation: int, params: np.ndarray,
                       artifacts: list[str]) -> None:
    """Integrate, chunk by chunk, the candidates whose artifact this run does not hold yet."""
    done = set(run.view().artifacts)
    missing = [index for index, path in enumerate(artifacts) if path not in done]
    if len(missing) < len(artifacts):
        _say(f"GEN{generation:03d} resuming: {len(artifacts) - len(missing)} of {len(artifacts)} candidates kept")
    keys = candidate_keys(settings.ga.seed, generation, len(params))
    chunk = settings.chunk_size or len(params)
    record = run.view().record
    code_version = record["code"]["packages"].get("irer") or record["versions"]["runlab"]  # the irer source's sha256
    for start in range(0, len(missing), chunk):
        indices = np.array(missing[start : start + chunk])
        result = run_population(params[indices], keys[indices], settings.model, settings.grid, settings.stepping,
                                chunk_size=chunk, device=settings.device, dtype=settings.precision)
        for position, index in enumerate(indices):
            candidate_params = dict(zip(settings.prior.names, params[index].tolist()))
            run.write_bytes(artifacts[index], candidate_hdf5_bytes(
                final_psi=result.psi[position], final_g_tt=result.g_tt[position],
                params={**candidate_params, "dx": settings.grid.dx, "rho_vac": settings.model.rho_vac,
                        "tau_s": settings.model.tau_s},
                dx=settings.grid.dx, alpha=candidate_params["alpha"], rho_vac=settings.model.rho_vac,
                tau_s=settings.model.tau_s, seed=settings.ga.seed, generation=generation, candidate=int(index),
                config_hash=record["config_hash"], code_version=code_version,
                snapshots_rho=None if result.snapshots_rho is None else result.snapshots_rho[position]))
        _say(f"GEN{generation:03d} integrated {min(start + chunk, len(missing))}/{len(missing)} candidates "
             f"(N={settings.grid.n}, {settings.stepping.steps} steps)")


def _generation_view(run: Run, run_id: str) -> RunView:
    """The complete generation run ``run_id`` (named by the ledger, so addressed by id, not by path)."""
    return RunView(run.store, run_id, run.store.complete_record(run_id, needed_by=run.run_id))


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {key: None if isinstance(value, float) and not math.isfinite(value) else value for key, value in row.items()}


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
