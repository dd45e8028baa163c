"""Where the unit tensor ``u`` and the gain's pre-activation sit in each supported architecture (spec/12).

``u`` of block l is the block's output hidden state (the residual stream after block l), shape
(batch, positions, hidden). :class:`UnitCapture` collects it from forward hooks on every block,
which see exactly what the next block receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from runlab import ConfigError, SchemaError

__all__ = ["ARCHITECTURES", "Architecture", "UnitCapture", "architecture_of", "unit_statistics"]


@dataclass(frozen=True)
class Architecture:
    """Module paths in one model family: the block list (first one found) and, inside a block, the
    first MLP linear layer whose output is the pre-activation the gain scales (spec/08)."""

    model_type: str
    block_lists: tuple[str, ...]
    preactivation: str


ARCHITECTURES: dict[str, Architecture] = {
    arch.model_type: arch
    for arch in (
        Architecture("gpt2", ("transformer.h", "h"), "mlp.c_fc"),
        Architecture("bert", ("encoder.layer", "bert.encoder.layer"), "intermediate.dense"),
        Architecture("roberta", ("encoder.layer", "roberta.encoder.layer"), "intermediate.dense"),
        Architecture("gpt_neox", ("gpt_neox.layers", "layers"), "mlp.dense_h_to_4h"),
        Architecture("llama", ("model.layers", "layers"), "mlp.gate_proj"),
        Architecture("mistral", ("model.layers", "layers"), "mlp.gate_proj"),
        Architecture("qwen2", ("model.layers", "layers"), "mlp.gate_proj"),
    )
}


def architecture_of(model: torch.nn.Module) -> Architecture:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ConfigError(f"model type {model_type!r} has no hook table",
                          f"supported: {', '.join(sorted(ARCHITECTURES))} (add one in avalanche_llm/model/hooks.py)")
    return ARCHITECTURES[model_type]


def blocks_of(model: torch.nn.Module, arch: Architecture) -> list[torch.nn.Module]:
    """The transformer blocks in depth order."""
    for path in arch.block_lists:
        try:
            blocks = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(blocks, torch.nn.ModuleList) and len(blocks) > 0:
            return list(blocks)
    raise ConfigError(f"{arch.model_type} model has none of {', '.join(arch.block_lists)}",
                      "the hook table in avalanche_llm/model/hooks.py does not match this model")


def preactivations_of(model: torch.nn.Module, arch: Architecture) -> list[torch.nn.Module]:
    """Per block, the linear layer whose output the gain multiplies."""
    try:
        return [block.get_submodule(arch.preactivation) for block in blocks_of(model, arch)]
    except AttributeError as exc:
        raise ConfigError(f"{arch.model_type} block has no {arch.preactivation}",
                          "the hook table in avalanche_llm/model/hooks.py does not match this model") from exc


class UnitCapture:
    """Forward hooks on every block that keep its output; ``take()`` returns and clears them, per block."""

    def __init__(self, model: torch.nn.Module, arch: Architecture) -> None:
        self._blocks = blocks_of(model, arch)
        self._outputs: list[torch.Tensor | None] = [None] * len(self._blocks)
        self._handles: list[Any] = []

    def __enter__(self) -> UnitCapture:
        for index, block in enumerate(self._blocks):
            self._handles.append(block.register_forward_hook(self._keeper(index)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _keeper(self, index: int):
        def keep(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            self._outputs[index] = output[0] if isinstance(output, tuple) else output

        return keep

    def take(self) -> list[torch.Tensor]:
        """Each block's output of the last forward, (batch, positions, hidden)."""
        if any(output is None for output in self._outputs):
            raise SchemaError("a block's forward hook did not fire", "the hook table does not match this model")
        outputs = [output for output in self._outputs if output is not None]
        self._outputs = [None] * len(self._blocks)
        return outputs


def unit_statistics(units: list[torch.Tensor], tokens: int, hidden: int) -> list[dict[str, float | int]]:
    """Check each layer's ``u`` (tokens, hidden) and describe it; a wrong shape, a non-finite value or a
    constant tensor is a SchemaError (the hook is on the wrong tensor: seed 002, failure mode 2)."""
    rows = []
    for layer, u in enumerate(units):
        if tuple(u.shape) != (tokens, hidden):
            raise SchemaError(f"layer {layer}: u has shape {tuple(u.shape)}, expected (tokens, hidden) = "
                              f"({tokens}, {hidden})", "the hook table does not match this model")
        values = u.detach().to(torch.float64)
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            raise SchemaError(f"layer {layer}: u has {int((~finite).sum())} non-finite values",
                              "try --dtype fp32; check the model's weights")
        std = float(values.std(unbiased=False))
        if std == 0.0:
            raise SchemaError(f"layer {layer}: u is constant", "the hook is on the wrong tensor")
        unit_std = values.std(dim=0, unbiased=False)
        rows.append({"layer": layer, "tokens": tokens, "hidden": hidden, "mean": float(values.mean()), "std": std,
                     "abs_max": float(values.abs().max()), "unit_std_min": float(unit_std.min()),
                     "unit_std_max": float(unit_std.max())})
    return rows
