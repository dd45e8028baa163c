"""S01: the text slice, a hook check on a small forward pass, and the per-unit baseline statistics."""

from __future__ import annotations

import numpy as np

from runlab import Run

from ..config import StudySettings
from ..events.standardize import BaselineStats
from ..io.jsonl import event
from ..io.schema_validate import table_from_rows
from ..model.forward import unit_batches
from ..model.hooks import unit_statistics
from ..model.loader import load_model
from ..text.corpus import load_corpus
from ..text.slice import slice_corpus

__all__ = ["prepare"]


def prepare(run: Run) -> None:
    settings = StudySettings.from_config(run.config)
    loaded = load_model(settings.model, settings.runtime)
    run.annotate("model", loaded.provenance)
    corpus = load_corpus(settings.text.source, settings.text.text_column)
    text = slice_corpus(corpus, loaded.tokenizer, settings.text)
    run.annotate("text", {"source": corpus.source, "file": corpus.path, "sha256": corpus.sha256,
                          "documents": len(corpus.documents), "stream_tokens": text.stream_tokens,
                          "indices_sha256": text.indices_sha256, "tokens_sha256": text.tokens_sha256})
    run.write_hdf5("text_slice", {"baseline/tokens": text.baseline, "baseline/starts": text.baseline_starts,
                                  "analysis/tokens": text.analysis, "analysis/starts": text.analysis_starts},
                   {"indices_sha256": text.indices_sha256, "tokens_sha256": text.tokens_sha256})
    run.write_results("text_slice", table_from_rows("text_slice", [
        *({"role": "baseline", "window_start": int(start)} for start in text.baseline_starts),
        *({"role": "analysis", "window_start": int(start)} for start in text.analysis_starts)]))

    stats = [BaselineStats.empty(loaded.hidden) for _ in range(loaded.n_layers)]
    checked = None
    for units in unit_batches(loaded, text.baseline, settings.model.batch_size):
        if checked is None:  # seed 002, failure mode 2: validate the hooks on the first small forward pass
            first_batch = min(settings.model.batch_size, len(text.baseline)) * settings.text.sequence_tokens
            checked = unit_statistics(units, first_batch, loaded.hidden)
        for layer, u in enumerate(units):
            stats[layer].update(u.cpu().numpy())
    assert checked is not None
    run.write_results("hook_check", table_from_rows("hook_check", checked))
    run.write_jsonl("hook_check", [event("unit_tensor", **row) for row in checked])
    run.write_hdf5("baseline_stats", {
        "count": np.asarray([layer.count for layer in stats], dtype=np.int64),
        "mean": np.stack([layer.mean for layer in stats]),
        "m2": np.stack([layer.m2 for layer in stats]),
    })
    print(f"S01: {loaded.n_layers} layers x {loaded.hidden} units checked; baseline over "
          f"{stats[0].count} tokens; slice {text.indices_sha256[:12]}", flush=True)
