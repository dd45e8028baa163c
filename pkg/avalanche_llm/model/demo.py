"""Models that test the machinery, not the science: a model whose ``config.json`` carries
``avalanche_llm_demo`` (every model ``random_model`` writes: random weights) is a demo, and every table,
figure and report made from its runs says so (spec/12)."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["DEMO_CONFIG_KEY", "demo_note", "demo_reason"]

DEMO_CONFIG_KEY = "avalanche_llm_demo"
"""Key of the model's ``config.json`` whose value says why the model is a demo (e.g. random weights)."""


def demo_reason(model_config: Any) -> str | None:
    """The model config's demo reason (a non-empty string), or None for a model that is not marked."""
    reason = getattr(model_config, DEMO_CONFIG_KEY, None)
    return str(reason) if reason else None


def demo_note(model_annotation: Mapping[str, Any]) -> str:
    """The line every table row, figure and report of a demo model carries; ``""`` for a real model.

    ``model_annotation`` is S01's ``model`` annotation (the loader's provenance)."""
    reason = model_annotation.get("demo")
    return f"DEMO MODEL ({reason}): these numbers test the machinery, not the science" if reason else ""
