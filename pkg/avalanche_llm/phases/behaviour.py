"""Phase 6: what the model can do at each gain. S06ARC: ARC multiple-choice accuracy; S06B: perplexity
of the analysis windows. Both are array stages with one task per swept gain (the config requires 1.0
among them, and g* is one of them): a task writes its gain's per-item or per-window rows, and the
fan-in summarizes them. On SLURM the tasks run as one job array; locally one after the other, and a
requeued or resumed run redoes only the tasks not yet done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runlab import ConfigError, Run, RunView

from ..analysis.gstar import is_gstar_gain
from ..behaviour.arc import correct_by_item, decide, load_arc_items, per_item_rows, require_causal_lm, score_choices
from ..behaviour.perplexity import WindowLoss, perplexity, window_losses
from ..config import ArcSettings, StudySettings
from ..io.artifacts import read_hdf5, read_json, read_rows
from ..io.gain_files import per_gain_name
from ..io.hashing import sha256_file
from ..io.schema_validate import table_from_rows
from ..io.sources import EMBEDDED_PREFIX, local_data_file
from ..model.gain import apply_gain
from ..model.loader import LoadedModel, load_model

__all__ = ["arc_accuracy", "arc_file", "arc_task", "gain_rows", "perplexity_by_gain", "perplexity_task"]


def arc_file(arc: ArcSettings) -> Path:
    """The items file: an embedded or local file as given, ``<folder>/<config>/<split>-*.{parquet,jsonl}`` of a local
    copy of the dataset, or the hub's ``<config>/<split>-00000-of-00001.parquet`` of ``arc.dataset``."""
    if arc.dataset.startswith(EMBEDDED_PREFIX):
        return local_data_file(arc.dataset)
    path = Path(arc.dataset).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted([*path.glob(f"{arc.config}/{arc.split}-*.parquet"), *path.glob(f"{arc.config}/{arc.split}-*.jsonl")])
        if len(found) != 1:
            raise ConfigError(f"{path} holds {len(found)} files {arc.config}/{arc.split}-*.parquet|jsonl",
                              "keep exactly one file per config and split")
        return found[0]
    return local_data_file(f"hf://datasets/{arc.dataset}/{arc.config}/{arc.split}-00000-of-00001.parquet",
                           arc.revision)


def gain_rows(view: RunView, table: str, index: int) -> list[dict[str, Any]]:
    """The rows task ``index`` (the ``index``-th swept gain) wrote to ``results/<table>_gainNN.parquet``."""
    return read_rows(view, f"results/{per_gain_name(table, index)}.parquet")


def arc_task(run: Run, task_index: int) -> None:
    """ARC at the ``task_index``-th swept gain: one row per item and choice (spec/20)."""
    settings = StudySettings.from_config(run.config)
    arc = settings.require_behaviour().arc
    gain = settings.gain.values[task_index]
    path = arc_file(arc)
    items = load_arc_items(path, arc.max_items)
    run.annotate("arc", {"dataset": arc.dataset, "config": arc.config, "split": arc.split, "file": str(path),
                         "sha256": sha256_file(path), "items": len(items)})
    loaded = _causal_model(settings)
    with apply_gain(loaded.model, loaded.architecture, gain):
        scores = score_choices(loaded.model, loaded.tokenizer, items, arc.batch_size, loaded.device,
                               loaded.max_positions or 2048)
    rows = [{"gain": gain, **row} for row in per_item_rows(items, scores, decide(items, scores))]
    run.write_results(per_gain_name("arc_items", task_index), table_from_rows("arc_items", rows))
    accuracy = _accuracies(rows)
    print(f"S06ARC: gain {gain:g}: acc {accuracy['acc']:.4f}, acc_norm {accuracy['acc_norm']:.4f} on "
          f"{len(items)} items", flush=True)


def arc_accuracy(run: Run) -> None:
    """Fan-in: accuracy per gain, recomputed from the per-item rows of every task."""
    rows = [{"gain": gain, "is_gstar": is_gstar, "n_items": len({row["item_index"] for row in per_item}),
             **_accuracies(per_item)}
            for gain, is_gstar, per_item in _rows_by_gain(run, "arc_items")]
    run.write_results("arc_accuracy", table_from_rows("arc_accuracy", rows))


def perplexity_task(run: Run, task_index: int) -> None:
    """Perplexity at the ``task_index``-th swept gain: one row per analysis window (spec/20)."""
    settings = StudySettings.from_config(run.config)
    behaviour = settings.require_behaviour()
    gain = settings.gain.values[task_index]
    windows = read_hdf5(run.upstream("S01"), "data/text_slice.h5")[0]["analysis/tokens"]
    loaded = _causal_model(settings)
    with apply_gain(loaded.model, loaded.architecture, gain):
        losses = window_losses(loaded, windows, behaviour.perplexity_batch_size)
    rows = [{"gain": gain, "window": loss.window, "n_predicted": loss.n_predicted, "nll_sum": loss.nll_sum}
            for loss in losses]
    run.write_results(per_gain_name("perplexity_windows", task_index), table_from_rows("perplexity_windows", rows))
    print(f"S06B: gain {gain:g}: perplexity {perplexity(losses)[1]:.3f}", flush=True)


def perplexity_by_gain(run: Run) -> None:
    """Fan-in: perplexity per gain from the per-window losses of every task."""
    rows = []
    for gain, is_gstar, per_window in _rows_by_gain(run, "perplexity_windows"):
        losses = [WindowLoss(row["window"], row["n_predicted"], row["nll_sum"]) for row in per_window]
        mean_nll, ppl = perplexity(losses)
        rows.append({"gain": gain, "is_gstar": is_gstar, "tokens": sum(loss.n_predicted for loss in losses),
                     "mean_nll": mean_nll, "perplexity": ppl})
    run.write_results("perplexity", table_from_rows("perplexity", rows))


def _rows_by_gain(run: Run, name: str) -> list[tuple[float, bool, list[dict[str, Any]]]]:
    """For a fan-in: ``(gain, is g*, rows of its task's `name` table)`` for every swept gain, in order."""
    gstar = read_json(run.upstream("S02"), "results/gstar.json")
    view = run.view()
    return [(gain, is_gstar_gain(gstar, gain), gain_rows(view, name, index))
            for index, gain in enumerate(StudySettings.from_config(run.config).gain.values)]


def _causal_model(settings: StudySettings) -> LoadedModel:
    loaded = load_model(settings.model, settings.runtime)
    require_causal_lm(loaded.model)
    return loaded


def _accuracies(rows: list[dict[str, Any]]) -> dict[str, float]:
    """acc, acc_norm, acc_bytes recomputed from per-choice rows: the share of items whose chosen
    choice under each rule is the answer."""
    return {rule: float(correct_by_item(rows, rule).mean()) for rule in ("acc", "acc_norm", "acc_bytes")}
