"""S02: the gain sweep. Per gain, every layer's rate-matched raster of the analysis slice and the total
branching ratio b_tot with its fit checks; then g*, where b_tot crosses 1 (spec/08). Each gain's rasters are one artifact, its b_tot in the file's
attributes (so the monitor shows each gain as it lands), and a resumed or requeued run keeps every gain
whose file is in its artifact index and computes only the others."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from runlab import Run, RunView

from ..analysis.gstar import select_gstar
from ..config import StudySettings
from ..events.rate_match import rate_matched_spikes
from ..events.standardize import BaselineStats, standardize
from ..io.artifacts import raster_arrays, read_hdf5
from ..io.gain_files import gain_raster_name, layer_key
from ..io.schema_validate import table_from_rows
from ..metrics.branching import branching_estimates
from ..model.forward import unit_batches
from ..model.loader import LoadedModel, load_model
from ..raster.build import Raster, total_activity

__all__ = ["read_gain_rasters", "segment_bounds", "sweep_gains"]


def segment_bounds(n_sequences: int, sequence_tokens: int) -> np.ndarray:
    """Time-bin bounds of the sequences: [0, L, 2L, ..., n L] (spec/12)."""
    return np.arange(n_sequences + 1, dtype=np.int64) * sequence_tokens


def read_gain_rasters(view: RunView, index: int) -> tuple[list[Raster], np.ndarray]:
    """Every layer's raster at gain ``index`` and the thresholds that matched their rates."""
    arrays, attrs = read_hdf5(view, f"data/{gain_raster_name(index)}.h5")
    rasters = [Raster.from_arrays(arrays, layer_key(layer)) for layer in range(int(attrs["n_layers"]))]
    return rasters, arrays["thresholds"]


def sweep_gains(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    prepared = run.upstream("S01")
    slice_arrays, _ = read_hdf5(prepared, "data/text_slice.h5")
    windows = slice_arrays["analysis/tokens"]
    baseline, _ = read_hdf5(prepared, "data/baseline_stats.h5")
    bounds = segment_bounds(*windows.shape)
    written = set(run.view().artifacts)  # a gain whose rasters are registered is done: artifacts are atomic
    done = [index for index in range(len(settings.gain.values)) if f"data/{gain_raster_name(index)}.h5" in written]
    if done:
        print(f"S02: resuming: {len(done)} of {len(settings.gain.values)} gains kept", flush=True)
    loaded = None
    rows, matched = [], []
    with run.progress(len(settings.gain.values), unit="gain") as progress:
        for index, gain in enumerate(settings.gain.values):
            if index in done:
                rasters, thresholds = read_gain_rasters(run.view(), index)
            else:
                loaded = loaded or load_model(settings.model, settings.runtime)
                rasters, thresholds = _rasters_at(loaded, windows, bounds, baseline, settings, gain)
            activity = total_activity(rasters)
            total = branching_estimates(activity, bounds, settings.metrics.mr_k_max)
            row = {"gain": gain, "b_tot_mr": total.m_mr, "b_tot_mr_stderr": total.m_mr_stderr,
                   "b_tot_mr_b": total.b_mr, "b_tot_mr_b_stderr": total.b_mr_stderr, "b_tot_mr_c": total.c_mr,
                   "b_tot_fit_status": total.fit_status, "b_tot_conventional": total.m_conventional,
                   "mean_total_activity": float(activity.mean())}
            if index not in done:  # the gain's b_tot rides in its file's attributes: a monitor shows it as it lands
                run.write_hdf5(gain_raster_name(index),
                               {**raster_arrays({layer_key(i): r for i, r in enumerate(rasters)}),
                                "thresholds": thresholds},
                               {**row, "n_layers": len(rasters), "target_rate": settings.events.target_rate})
            rows.append(row)
            matched.extend({"gain": gain, "layer": layer, "threshold": float(threshold), "spikes": raster.n_spikes,
                            "rate": raster.n_spikes / (raster.n_bins * raster.n_units)}
                           for layer, (raster, threshold) in enumerate(zip(rasters, thresholds)))
            print(f"S02: gain {gain:g} ({index + 1}/{len(settings.gain.values)}): b_tot {total.m_mr:.4f} ± "
                  f"{total.m_mr_stderr:.4f} (MR, b {total.b_mr:.3f}, c {total.c_mr:.3f}: {total.fit_status}), "
                  f"{total.m_conventional:.4f} (conventional)", flush=True)
            progress.advance()
    run.write_results("gain_sweep", table_from_rows("gain_sweep", rows))
    run.write_results("rate_match", table_from_rows("rate_match", matched))
    gstar = select_gstar(settings.gain.values, [row["b_tot_mr"] for row in rows],
                         [row["b_tot_mr_stderr"] for row in rows], [row["b_tot_fit_status"] for row in rows],
                         settings.gain.gstar_method).as_json()
    run.write_json("results/gstar.json", gstar)
    run.annotate("gstar", gstar)
    print(f"S02: {gstar['message']} ({gstar['method']}; nulls at g = {gstar['reference_gain']:g})", flush=True)


def _rasters_at(loaded: LoadedModel, windows: np.ndarray, bounds: np.ndarray, baseline: Mapping[str, np.ndarray],
                settings: StudySettings, gain: float) -> tuple[list[Raster], np.ndarray]:
    """Every layer's |z| against its baseline statistics, then each layer's spike rate matched to the
    target (spec/12)."""
    stats = [BaselineStats(int(count), mean, m2)
             for count, mean, m2 in zip(baseline["count"], baseline["mean"], baseline["m2"])]
    abs_z: list[list[np.ndarray]] = [[] for _ in range(loaded.n_layers)]
    for units in unit_batches(loaded, windows, settings.model.batch_size, gain):
        for layer, u in enumerate(units):
            abs_z[layer].append(np.abs(standardize(u.cpu().numpy(), stats[layer], settings.events.std_floor)))
    rasters, thresholds = [], []
    for layer_z in abs_z:
        matrix = np.concatenate(layer_z)
        match = rate_matched_spikes(matrix, settings.events.target_rate)
        rasters.append(Raster.from_flat(match.flat_indices, matrix.shape[0], matrix.shape[1], bounds))
        thresholds.append(match.threshold)
    return rasters, np.asarray(thresholds, dtype=np.float64)
