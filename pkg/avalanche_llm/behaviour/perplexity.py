"""Perplexity of the causal language model on token windows (S06B).

Each window (the text tokens of the slice) is framed like every other forward of the study (the
tokenizer's prefix such as a BOS, no suffix). Every text token with a token before it is predicted:
its negative log-likelihood is -log softmax(logits at the previous position)[token], in float32.
The perplexity of a set of windows is exp(sum of NLL / number of predicted tokens), in nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..model.forward import framing_of
from ..model.loader import LoadedModel

__all__ = ["WindowLoss", "perplexity", "window_losses"]


@dataclass(frozen=True)
class WindowLoss:
    window: int
    n_predicted: int
    nll_sum: float  # nats


def window_losses(loaded: LoadedModel, windows: np.ndarray, batch_size: int) -> list[WindowLoss]:
    """The summed NLL of every window of ``windows`` (int64 (n, L)), batch by batch, inference only."""
    prefix = np.asarray(framing_of(loaded.tokenizer).prefix, dtype=np.int64)
    losses = []
    with torch.inference_mode():
        for first in range(0, windows.shape[0], batch_size):
            batch = windows[first : first + batch_size]
            ids = np.concatenate([np.broadcast_to(prefix, (len(batch), prefix.size)), batch], axis=1)
            input_ids = torch.from_numpy(np.ascontiguousarray(ids)).to(loaded.device)
            logits = loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits
            log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            nll = -log_probs.gather(-1, input_ids[:, 1:, None])[..., 0]
            sums = nll.sum(dim=1, dtype=torch.float64).cpu().numpy()
            losses.extend(WindowLoss(first + offset, ids.shape[1] - 1, float(total)) for offset, total in enumerate(sums))
    return losses


def perplexity(losses: Sequence[WindowLoss]) -> tuple[float, float]:
    """(mean NLL per predicted token in nats, perplexity = exp of it)."""
    tokens = sum(loss.n_predicted for loss in losses)
    if tokens == 0:
        raise ValueError("no predicted tokens")
    mean = sum(loss.nll_sum for loss in losses) / tokens
    return mean, math.exp(mean)
