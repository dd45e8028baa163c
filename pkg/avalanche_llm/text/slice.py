"""The deterministic slice: non-overlapping token windows of the corpus, split into baseline and analysis.

The corpus's documents are tokenized (no special tokens) and concatenated, with the tokenizer's
separator (its EOS or SEP token, if it has one) between documents. The stream is cut into windows of
``sequence_tokens`` tokens; a permutation seeded by ``text.seed`` picks ``baseline_sequences``
windows, then ``analysis_sequences`` more, each set kept in corpus order. ``indices_sha256`` (of the
window starts) and ``tokens_sha256`` (of the token ids) go into the run record, so a changed slice is
visible across runs of the same config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runlab import ConfigError

from ..config import TextSettings
from ..io.hashing import sha256_arrays
from .corpus import Corpus

__all__ = ["TextSlice", "slice_corpus"]


@dataclass(frozen=True)
class TextSlice:
    """Token windows, shape (n_sequences, sequence_tokens), and the window starts in the token stream."""

    baseline: np.ndarray  # int64 (baseline_sequences, sequence_tokens)
    analysis: np.ndarray  # int64 (analysis_sequences, sequence_tokens)
    baseline_starts: np.ndarray  # int64 (baseline_sequences,)
    analysis_starts: np.ndarray  # int64 (analysis_sequences,)
    stream_tokens: int

    @property
    def indices_sha256(self) -> str:
        return sha256_arrays(self.baseline_starts, self.analysis_starts)

    @property
    def tokens_sha256(self) -> str:
        return sha256_arrays(self.baseline, self.analysis)


def slice_corpus(corpus: Corpus, tokenizer: Any, settings: TextSettings) -> TextSlice:
    """Cut ``corpus`` into windows and pick the baseline and analysis sets (see the module docstring)."""
    encoded = tokenizer(list(corpus.documents), add_special_tokens=False)["input_ids"]
    separator = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    pieces = []
    for ids in encoded:
        pieces.append(np.asarray(ids, dtype=np.int64))
        if separator is not None:
            pieces.append(np.asarray([separator], dtype=np.int64))
    stream = np.concatenate(pieces)
    length = settings.sequence_tokens
    n_windows = stream.size // length
    needed = settings.baseline_sequences + settings.analysis_sequences
    if n_windows < needed:
        raise ConfigError(
            f"corpus {corpus.source} gives {n_windows} windows of {length} tokens; the config needs {needed}",
            "use a larger corpus, or fewer or shorter sequences (avalanche_llm.text)",
        )
    order = np.random.default_rng(settings.seed).permutation(n_windows)
    baseline = np.sort(order[: settings.baseline_sequences]) * length
    analysis = np.sort(order[settings.baseline_sequences : needed]) * length
    windows = np.lib.stride_tricks.sliding_window_view(stream, length)
    return TextSlice(baseline=windows[baseline].copy(), analysis=windows[analysis].copy(),
                     baseline_starts=baseline.astype(np.int64), analysis_starts=analysis.astype(np.int64),
                     stream_tokens=int(stream.size))
