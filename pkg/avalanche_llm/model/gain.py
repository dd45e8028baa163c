"""The gain intervention (spec/08): every block's MLP pre-activation is multiplied by ``g``.

A forward hook on the block's first MLP linear layer scales its output, so the activation function
sees ``g * (W1 x + b1)``; ``g = 1`` leaves the model as it is (no hook is installed).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch

from .hooks import Architecture, preactivations_of

__all__ = ["apply_gain"]


@contextmanager
def apply_gain(model: torch.nn.Module, arch: Architecture, gain: float) -> Iterator[None]:
    if gain <= 0:
        raise ValueError(f"gain must be positive, got {gain}")
    if gain == 1.0:
        yield
        return

    def scale(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output * gain

    handles = [layer.register_forward_hook(scale) for layer in preactivations_of(model, arch)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
