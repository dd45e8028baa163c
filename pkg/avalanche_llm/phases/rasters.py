"""S03: cross-correlation of the layers' activities at every gain, and the null rasters at g* with a
check that each keeps exactly the marginals it claims."""

from __future__ import annotations

import numpy as np

from runlab import Run, SchemaError

from ..analysis.gstar import gstar_label
from ..config import StudySettings
from ..io.artifacts import raster_arrays, read_json
from ..io.gain_files import layer_key
from ..io.schema_validate import validate_table
from ..raster.cc import activity_cross_correlation
from ..raster.nulls import NULLS, marginals_kept
from .sweep import read_gain_rasters

__all__ = ["build_rasters", "null_key"]


def null_key(name: str, layer: int) -> str:
    return f"{name}/{layer_key(layer)}"


def build_rasters(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    sweep = run.upstream("S02")
    parts = []
    for index, gain in enumerate(settings.gain.values):
        rasters, _ = read_gain_rasters(sweep, index)
        cc = activity_cross_correlation(np.stack([r.activity() for r in rasters]), rasters[0].bounds,
                                        settings.metrics.cc_max_lag)
        layer_a, layer_b, lag = (axis.ravel().astype(np.int64) for axis in np.indices(cc.shape))
        parts.append({"gain": np.full(cc.size, gain), "layer_a": layer_a, "layer_b": layer_b, "lag": lag,
                      "correlation": cc.ravel().astype(np.float64)})
    run.write_results("cross_correlation", validate_table(
        "cross_correlation", {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}))

    gstar = read_json(sweep, "results/gstar.json")
    rasters, _ = read_gain_rasters(sweep, gstar["index"])
    nulls, checks = {}, {"null_model": [], "layer": [], "per_unit_kept": [], "per_bin_kept": [], "changed": []}
    for null_index, (name, shuffle) in enumerate(sorted(NULLS.items())):
        for layer, raster in enumerate(rasters):
            rng = np.random.default_rng(np.random.SeedSequence([run.task_seed(), null_index, layer]))
            null = shuffle(raster, rng)
            kept = marginals_kept(raster, null, name)
            if not kept["claimed"]:  # S03 stops rather than pass on a null that is not what it claims
                raise SchemaError(f"null {name} of layer {layer} changed a marginal it claims to keep",
                                  "a bug in avalanche_llm/raster/nulls.py")
            nulls[null_key(name, layer)] = null
            changed = not (np.array_equal(null.times, raster.times) and np.array_equal(null.units, raster.units))
            for column, value in (("null_model", name), ("layer", layer), ("per_unit_kept", kept["unit_segment_counts"]),
                                  ("per_bin_kept", kept["bin_counts"]), ("changed", changed)):
                checks[column].append(value)
    run.write_hdf5("null_rasters", raster_arrays(nulls), {"gain": gstar["reference_gain"], "n_layers": len(rasters)})
    run.write_results("null_checks", validate_table("null_checks", checks))
    print(f"S03: cross-correlation at {len(settings.gain.values)} gains; nulls {', '.join(sorted(NULLS))} at "
          f"g = {gstar['reference_gain']:g} ({gstar_label(gstar)}) keep their marginals exactly", flush=True)
