"""Phase 6: what the model can do at each gain. S06ARC: ARC multiple-choice accuracy; S06B: perplexity
of the analysis windows. Both run at every swept gain and at g = 1 (g* is one of the swept gains),
one artifact per gain written with the checkpoint, so a requeued job resumes after its last gain."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from runlab import Run
from runlab.errors import ConfigError

from ..behaviour.arc import decide, load_arc_items, per_item_rows, require_causal_lm, score_choices
from ..behaviour.perplexity import WindowLoss, perplexity, window_losses
from ..config import ArcSettings, StudySettings
from ..io.artifacts import read_hdf5, read_json, read_parquet
from ..io.hashing import sha256_file
from ..io.schema_validate import table_from_rows
from ..io.sources import local_data_file
from ..model.gain import apply_gain
from ..model.loader import LoadedModel, load_model

__all__ = ["arc_accuracy", "arc_file", "behaviour_gains", "perplexity_by_gain"]


def behaviour_gains(settings: StudySettings) -> list[float]:
    """The swept gains and 1.0, ascending."""
    return sorted(set(settings.gain.values) | {1.0})


def arc_file(arc: ArcSettings) -> Path:
    """The items file: a local file as given, ``<folder>/<config>/<split>-*.{parquet,jsonl}`` of a local
    copy of the dataset, or the hub's ``<config>/<split>-00000-of-00001.parquet`` of ``arc.dataset``."""
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


def arc_accuracy(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    arc = settings.require_behaviour().arc
    gstar = read_json(run.upstream("S02"), "results/gstar.json")["gstar"]
    path = arc_file(arc)
    items = load_arc_items(path, arc.max_items)
    run.annotate("arc", {"dataset": arc.dataset, "config": arc.config, "split": arc.split, "file": str(path),
                         "sha256": sha256_file(path), "items": len(items)})
    loaded = _causal_model(settings)
    max_length = loaded.max_positions or 2048

    def score(gain: float) -> list[dict[str, Any]]:
        with apply_gain(loaded.model, loaded.architecture, gain):
            scores = score_choices(loaded.model, loaded.tokenizer, items, arc.batch_size, loaded.device, max_length)
        return [{"gain": gain, **row} for row in per_item_rows(items, scores, decide(items, scores))]

    rows = []
    for gain, per_item in _per_gain(run, settings, "arc_items", score):
        rows.append({"gain": gain, "is_gstar": gain == gstar, "n_items": len(items), **_accuracies(per_item)})
        print(f"S06ARC: gain {gain:g}: acc {rows[-1]['acc']:.4f}, acc_norm {rows[-1]['acc_norm']:.4f} on "
              f"{len(items)} items", flush=True)
    run.write_results("arc_accuracy", table_from_rows("arc_accuracy", rows))


def perplexity_by_gain(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    behaviour = settings.require_behaviour()
    gstar = read_json(run.upstream("S02"), "results/gstar.json")["gstar"]
    windows = read_hdf5(run.upstream("S01"), "data/text_slice.h5")[0]["analysis/tokens"]
    loaded = _causal_model(settings)

    def score(gain: float) -> list[dict[str, Any]]:
        with apply_gain(loaded.model, loaded.architecture, gain):
            losses = window_losses(loaded, windows, behaviour.perplexity_batch_size)
        return [{"gain": gain, "window": loss.window, "n_predicted": loss.n_predicted, "nll_sum": loss.nll_sum}
                for loss in losses]

    rows = []
    for gain, per_window in _per_gain(run, settings, "perplexity_windows", score):
        losses = [WindowLoss(row["window"], row["n_predicted"], row["nll_sum"]) for row in per_window]
        mean_nll, ppl = perplexity(losses)
        rows.append({"gain": gain, "is_gstar": gain == gstar, "tokens": sum(loss.n_predicted for loss in losses),
                     "mean_nll": mean_nll, "perplexity": ppl})
        print(f"S06B: gain {gain:g}: perplexity {ppl:.3f} over {rows[-1]['tokens']} tokens", flush=True)
    run.write_results("perplexity", table_from_rows("perplexity", rows))


def _causal_model(settings: StudySettings) -> LoadedModel:
    loaded = load_model(settings.model, settings.runtime)
    require_causal_lm(loaded.model)
    return loaded


def _per_gain(run: Run, settings: StudySettings, table: str, score: Callable[[float], list[dict[str, Any]]],
              ) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """For each gain of ``behaviour_gains``: its rows, computed by ``score`` and written as
    ``results/<table>_gainNN.parquet`` unless the checkpoint says an earlier attempt did, then read back."""
    done = list((run.load_checkpoint() or {}).get("gains_done", []))
    gains = behaviour_gains(settings)
    if done:
        print(f"{run.stage_tag}: resuming: {len(done)} of {len(gains)} gains kept", flush=True)
    for index, gain in enumerate(gains):
        name = f"{table}_gain{index:02d}"
        if index not in done:
            run.write_results(name, table_from_rows(table, score(gain)))
            done.append(index)
            run.save_checkpoint({"gains_done": done})
        columns = read_parquet(run.view(), f"results/{name}.parquet")
        yield gain, [dict(zip(columns, values)) for values in zip(*columns.values())]


def _accuracies(rows: list[dict[str, Any]]) -> dict[str, float]:
    """acc, acc_norm, acc_bytes recomputed from per-choice rows: the share of items whose chosen
    choice under each rule is the answer."""
    items = {row["item_index"] for row in rows}
    return {rule: sum(row["is_answer"] for row in rows if row[f"chosen_{rule}"]) / len(items)
            for rule in ("acc", "acc_norm", "acc_bytes")}
