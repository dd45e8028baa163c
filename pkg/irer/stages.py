"""The hunt's stages (``jobs/irer.yaml``): one GEN link per generation, then REPORT.

A generation breeds its candidates from the ledger of the generation before it (found by run id,
as its upstream), copies the rows of parameters the ledger already holds, integrates the others from
the hunt's K initial fields as one vmapped program chunk by chunk, writes each integration's raw
arrays as an HDF5 artifact, scores every artifact with the independent validator, and writes the
ledger of all generations so far. A requeued generation keeps the candidates already written.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from runlab import Run, RunView

from .artifacts import CandidateArrays, candidate_hdf5_bytes, read_candidate
from .hunter import initial_population, next_generation
from .evaluation import generation_outputs, reuse_plan, score_candidate, scored_rows
from .ledger import (append_generations, best, empty_ledger, flat_rows, generation_summary, ledger_bytes, read_ledger,
                     top_candidates)
from .model import field_keys
from .chunking import resolve_chunk_size
from .population import resolve_device, run_candidates
from .settings import HuntSettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LEDGER", "SUMMARY", "best_candidate_figure", "field_artifacts", "report", "report_tables", "run_generation"]

LEDGER = "results/ledger.parquet"
SUMMARY = "results/generation_summary.json"


def run_generation(run: Run) -> None:
    """GEN<g>: breed; integrate the candidates not evaluated before, each from the hunt's K initial fields;
    store their raw arrays; validate every field file; extend the ledger (evaluated parameters copied)."""
    settings = HuntSettings.from_config(run.config)
    generation = run.chain_index
    previous = run.previous_link()
    names = settings.prior.names
    ledger = read_ledger(previous.read_bytes(LEDGER), names) if previous else empty_ledger(names)
    params = (initial_population(settings.prior, settings.ga, generation) if generation == 0
              else next_generation(ledger, settings.prior, settings.ga, generation))
    plan = reuse_plan(ledger, params, names)
    new = [index for index, source in enumerate(plan) if source is None]
    artifacts = {index: field_artifacts(generation, index, settings.initial_fields) for index in new}
    _integrate_missing(run, settings, generation, params, artifacts)

    view = run.view()
    scores = {index: score_candidate(settings, [read_candidate(view.read_bytes(path)) for path in paths])
              for index, paths in artifacts.items()}
    rows = scored_rows(settings, generation, params, ledger, plan, scores, run_id=run.run_id, artifacts=artifacts)
    ledger = append_generations(ledger, rows)
    run.write_bytes(LEDGER, ledger_bytes(ledger))
    top, summary = generation_outputs(ledger, rows, settings.top_candidates)
    run.write_table("top_candidates", top)
    run.write_json(SUMMARY, summary)
    _say(f"GEN{generation:03d} best fitness {_fitness(summary['best_fitness'])}, median "
         f"{_fitness(summary['median_fitness'])}, {summary['n_finite']}/{summary['n_candidates']} finite, best so far "
         f"{_fitness(summary['best_fitness_so_far'])}; "
         f"{summary['integrated']} integrated x {settings.initial_fields} fields, "
         f"{summary['served_from_ledger']} served from the ledger")


def _fitness(value: float | None) -> str:
    """A summary's fitness for a line: 4 significant digits, or ``none`` where no candidate is finite."""
    return "none" if value is None else f"{value:.4g}"


def field_artifacts(generation: int, candidate: int, fields: int) -> list[str]:
    """The K field files of a candidate integrated in ``generation``, field order."""
    return [f"data/candidates/g{generation:04d}_c{candidate:04d}_f{field:02d}.h5" for field in range(fields)]


def report(run: Run) -> None:
    """REPORT: fitness across generations and the best candidate's fields, from the last generation's ledger."""
    from matplotlib.figure import Figure

    ledger = read_ledger(run.upstream(run.upstream_tags[-1]).read_bytes(LEDGER))
    tables = report_tables(ledger, int(run.config["irer"]["hunt"]["top_candidates"]))
    for name, table in tables.items():
        run.write_table(name, table)
    summary = tables["generation_summary"]

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
    hunted = f"{ledger.num_rows} candidates over {summary.num_rows} generation{'s' if summary.num_rows > 1 else ''}"
    if top is None:  # every candidate diverged: the hunt found nothing, and that is its verdict
        run.set_verdict(False, f"no candidate has a finite fitness ({hunted})", {"candidates": ledger.num_rows})
        _say("REPORT no candidate has a finite fitness; no best-candidate figure")
        return
    arrays = read_candidate(_generation_view(run, top["run_id"]).read_bytes(top["artifacts"][0]))
    run.write_figure("best_candidate_field", best_candidate_figure(arrays, top["generation"], top["candidate"]))
    run.set_verdict(True, f"best fitness {top['fitness']:.4g} at generation {top['generation']} candidate "
                          f"{top['candidate']} ({hunted})",
                    {"best_fitness": top["fitness"], "candidates": ledger.num_rows})
    _say(f"REPORT best fitness {top['fitness']:.4g}: generation {top['generation']} candidate {top['candidate']} "
         f"({top['run_id']})")


def report_tables(ledger: pa.Table, top: int) -> dict[str, pa.Table]:
    """REPORT's tables by name: ``generation_summary`` of the whole ledger and its ``top`` best candidates
    (``flat_rows``: per-field metrics as their means; the ledger keeps every field's)."""
    return {"generation_summary": generation_summary(ledger), "top_candidates": flat_rows(top_candidates(ledger, top))}


# What the best-candidate figure's colour bars say: quantity, then unit (spec/irer/equations.md, "Units").
FIELD_LABELS = (("|ψ|² (model units: cubic saturation coefficient 1)", "magma"),
                ("g_tt (dimensionless)", "viridis"))


def best_candidate_figure(arrays: CandidateArrays, generation: int, candidate: int) -> Figure:
    """The final ``|ψ|²`` and ``g_tt`` of one candidate side by side, axes in grid lengths, each with a
    colour bar that names its quantity and unit."""
    from matplotlib.figure import Figure

    side = arrays.n * arrays.dx
    figure = Figure(figsize=(7.6, 3.4))
    for position, (field, (label, cmap)) in enumerate(zip((arrays.final_rho, arrays.final_g_tt), FIELD_LABELS),
                                                       start=1):
        axes = figure.add_subplot(1, 2, position)
        image = axes.imshow(field, cmap=cmap, origin="lower", extent=(0.0, side, 0.0, side))
        axes.set_xlabel(f"x (length; dx = {arrays.dx:g})", fontsize=7)
        axes.set_ylabel("y (length)", fontsize=7)
        axes.set_title(f"generation {generation} candidate {candidate}, initial field {arrays.field}", fontsize=8)
        bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
        bar.set_label(label, fontsize=7)
    figure.tight_layout()
    return figure


def _integrate_missing(run: Run, settings: HuntSettings, generation: int, params: np.ndarray,
                       artifacts: dict[int, list[str]]) -> None:
    """Integrate, chunk by chunk, the candidates of ``artifacts`` whose files this run does not hold yet, each
    from the hunt's K initial fields in one vmapped program."""
    done = set(run.view().artifacts)
    missing = [index for index, paths in artifacts.items() if not set(paths) <= done]
    if len(missing) < len(artifacts):
        _say(f"GEN{generation:03d} resuming: {len(artifacts) - len(missing)} of {len(artifacts)} candidates kept")
    fields = field_keys(settings.ga.seed, settings.initial_fields)
    chunk = resolve_chunk_size(settings.chunk_size, resolve_device(settings.device), settings.grid, settings.stepping,
                               settings.precision, settings.initial_fields, len(missing))
    record = run.view().record
    code_version = record["code"]["packages"].get("irer") or record["versions"]["runlab"]  # the irer source's sha256
    with run.progress(len(missing), unit="candidate") as progress:
        for start in range(0, len(missing), chunk):
            indices = np.array(missing[start : start + chunk])
            result = run_candidates(params[indices], fields, settings.model, settings.grid, settings.stepping,
                                    chunk_size=chunk, device=settings.device, dtype=settings.precision)
            for position, index in enumerate(indices):
                candidate_params = dict(zip(settings.prior.names, params[index].tolist()))
                for field, path in enumerate(artifacts[int(index)]):
                    run.write_bytes(path, candidate_hdf5_bytes(
                        final_psi=result.psi[position, field], final_g_tt=result.g_tt[position, field],
                        params={**candidate_params, "dx": settings.grid.dx, "rho_vac": settings.model.rho_vac,
                                "tau_s": settings.model.tau_s},
                        dx=settings.grid.dx, alpha=candidate_params["alpha"], rho_vac=settings.model.rho_vac,
                        tau_s=settings.model.tau_s, seed=settings.ga.seed, generation=generation, candidate=int(index),
                        field=field, config_hash=record["config_hash"], code_version=code_version,
                        snapshots_rho=None if result.snapshots_rho is None else result.snapshots_rho[position, field]))
            _say(f"GEN{generation:03d} integrated {min(start + chunk, len(missing))}/{len(missing)} candidates "
                 f"x {settings.initial_fields} fields (N={settings.grid.n}, {settings.stepping.steps} steps)")
            progress.advance(len(indices))


def _generation_view(run: Run, run_id: str) -> RunView:
    """The complete generation run ``run_id`` (named by the ledger, so addressed by id, not by path)."""
    return RunView(run.store, run_id, run.store.complete_record(run_id, needed_by=run.run_id))


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
