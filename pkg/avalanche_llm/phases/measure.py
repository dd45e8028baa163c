"""S04: the metrics of every raster. Per gain and layer (and for the total activity): branching ratios
by the conventional and the multistep-regression estimators; avalanches; discrete power-law fits of
their sizes and durations with a bootstrap goodness of fit and likelihood-ratio tests; the
crackling-noise relation. The same for the null rasters at g*, so each metric has its nulls beside it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

import numpy as np

from runlab import Run

from ..analysis.summarize import TOTAL_LAYER
from ..config import StudySettings
from ..io.artifacts import read_hdf5, read_json
from ..io.schema_validate import table_from_rows
from ..metrics.avalanches import find_avalanches
from ..metrics.branching import branching_estimates
from ..metrics.signatures import crackling_relation
from ..metrics.stats import bootstrap_gof, fit_discrete_power_law, likelihood_ratio
from ..raster.build import Raster, total_activity
from ..raster.nulls import NULLS
from .rasters import null_key
from .sweep import read_gain_rasters

__all__ = ["measure"]

_NAN = math.nan


def measure(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    sweep, rasters_run = run.upstream("S02"), run.upstream("S03")
    tables: dict[str, list[dict[str, Any]]] = {"branching": [], "avalanches": [], "powerlaw_fits": [], "crackling": []}
    for source, gain, rasters in _sources(settings, sweep, rasters_run):
        for layer, raster in enumerate(rasters):
            seed = np.random.SeedSequence([run.task_seed(), len(tables["branching"])])
            _measure_layer(tables, settings, np.random.default_rng(seed), source, gain, layer, raster)
        tables["branching"].append(_branching(source, gain, TOTAL_LAYER, total_activity(rasters), rasters[0].bounds,
                                              settings))
        print(f"S04: {source} at gain {gain:g}: {len(rasters)} layers measured", flush=True)
    for name, rows in tables.items():
        run.write_results(name, table_from_rows(name, rows))


def _sources(settings: StudySettings, sweep, rasters_run) -> Iterator[tuple[str, float, list[Raster]]]:
    """("data", gain, rasters) for every swept gain, then ("null:<name>", g*, rasters) for every null."""
    for index, gain in enumerate(settings.gain.values):
        yield "data", gain, read_gain_rasters(sweep, index)[0]
    gstar = read_json(sweep, "results/gstar.json")
    arrays, attrs = read_hdf5(rasters_run, "data/null_rasters.h5")
    for name in sorted(NULLS):  # at the swept gain that stands for g* (spec/08)
        yield f"null:{name}", gstar["reference_gain"], [Raster.from_arrays(arrays, null_key(name, layer))
                                               for layer in range(int(attrs["n_layers"]))]


def _branching(source: str, gain: float, layer: int, activity: np.ndarray, bounds: np.ndarray,
               settings: StudySettings) -> dict[str, Any]:
    estimates = branching_estimates(activity, bounds, settings.metrics.mr_k_max)
    return {"source": source, "gain": gain, "layer": layer, **dataclasses.asdict(estimates)}


def _measure_layer(tables: dict[str, list[dict[str, Any]]], settings: StudySettings, rng: np.random.Generator,
                   source: str, gain: float, layer: int, raster: Raster) -> None:
    key = {"source": source, "gain": gain, "layer": layer}
    activity = raster.activity()
    tables["branching"].append(_branching(source, gain, layer, activity, raster.bounds, settings))
    avalanches = find_avalanches(activity, raster.bounds)
    tables["avalanches"].extend({**key, "size": int(size), "duration": int(duration)}
                                for size, duration in zip(avalanches.sizes, avalanches.durations))
    fits = {}
    for quantity, values in (("size", avalanches.sizes), ("duration", avalanches.durations)):
        fits[quantity] = fit = _fit(values, settings)
        tables["powerlaw_fits"].append({**key, "quantity": quantity, "n": int(values.size), **_fit_row(values, fit, settings, rng)})
    crackling = {"tau": _NAN, "alpha": _NAN, "gamma_fit": _NAN, "gamma_pred": _NAN, "difference": _NAN}
    if fits["size"] is not None and fits["duration"] is not None:
        try:
            relation = crackling_relation(avalanches, fits["size"], fits["duration"])
            crackling = {name: getattr(relation, name) for name in crackling}
        except ValueError:
            pass  # too few durations above x_min for the <S>(T) slope: NaN says so
    tables["crackling"].append({**key, **crackling})


def _fit(values: np.ndarray, settings: StudySettings):
    try:
        return fit_discrete_power_law(values, min_tail=settings.metrics.min_tail)
    except ValueError:  # fewer avalanches than a fit needs
        return None


def _fit_row(values: np.ndarray, fit, settings: StudySettings, rng: np.random.Generator) -> dict[str, Any]:
    if fit is None:
        return {"status": "too_few_avalanches", "alpha": _NAN, "xmin": 0, "ks": _NAN, "n_tail": 0, "p_gof": _NAN,
                "lr_lognormal": _NAN, "p_lognormal": _NAN, "lr_exponential": _NAN, "p_exponential": _NAN}
    p_gof = (bootstrap_gof(values, fit, n_boot=settings.metrics.n_boot, rng=rng, min_tail=settings.metrics.min_tail)
             if settings.metrics.n_boot else _NAN)
    lognormal = likelihood_ratio(values, fit, "lognormal")
    exponential = likelihood_ratio(values, fit, "exponential")
    return {"status": "fitted", "alpha": fit.alpha, "xmin": int(fit.xmin), "ks": fit.ks, "n_tail": int(fit.n_tail),
            "p_gof": p_gof, "lr_lognormal": lognormal.R, "p_lognormal": lognormal.p,
            "lr_exponential": exponential.R, "p_exponential": exponential.p}
