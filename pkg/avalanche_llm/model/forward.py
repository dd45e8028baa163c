"""Batched, inference-only forward passes that yield the unit tensors of every block.

Each window of text tokens is framed by the tokenizer's own special tokens (e.g. [CLS] ... [SEP] for
BERT, nothing for GPT-2), found by comparing how it encodes one word with and without them. Only
the text positions become time bins: ``u`` per layer is (batch * sequence_tokens, hidden), rows in
window order then position order (spec/12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from runlab import ConfigError

from .gain import apply_gain
from .hooks import UnitCapture
from .loader import LoadedModel

__all__ = ["Framing", "framing_of", "unit_batches"]


@dataclass(frozen=True)
class Framing:
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]


def framing_of(tokenizer) -> Framing:
    """The special tokens the tokenizer puts before and after a text."""
    bare = tokenizer("word", add_special_tokens=False)["input_ids"]
    framed = tokenizer("word")["input_ids"]
    for start in range(len(framed) - len(bare) + 1):
        if framed[start : start + len(bare)] == bare:
            return Framing(tuple(framed[:start]), tuple(framed[start + len(bare) :]))
    return Framing((), ())


def unit_batches(loaded: LoadedModel, windows: np.ndarray, batch_size: int, gain: float = 1.0,
                 ) -> Iterator[list[torch.Tensor]]:
    """For each batch of ``windows`` (int64 (n, sequence_tokens)), every block's ``u`` on the model's
    device, float32, shape (batch * sequence_tokens, hidden)."""
    framing = framing_of(loaded.tokenizer)
    start = len(framing.prefix)
    n_tokens = windows.shape[1]
    positions = start + n_tokens + len(framing.suffix)
    if loaded.max_positions is not None and positions > loaded.max_positions:
        raise ConfigError(f"a sequence of {n_tokens} text tokens takes {positions} positions; the model has "
                          f"{loaded.max_positions}", "lower avalanche_llm.text.sequence_tokens")
    with torch.inference_mode(), UnitCapture(loaded.model, loaded.architecture) as capture, \
            apply_gain(loaded.model, loaded.architecture, gain):
        for first in range(0, windows.shape[0], batch_size):
            batch = windows[first : first + batch_size]
            ids = np.concatenate([np.broadcast_to(np.asarray(framing.prefix, np.int64), (len(batch), start)), batch,
                                  np.broadcast_to(np.asarray(framing.suffix, np.int64), (len(batch), len(framing.suffix)))],
                                 axis=1)
            input_ids = torch.from_numpy(np.ascontiguousarray(ids)).to(loaded.device)
            loaded.model.base_model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))  # no LM head
            yield [output[:, start : start + n_tokens, :].reshape(-1, output.shape[-1]).float()
                   for output in capture.take()]
