"""g*, the gain at which the network is nearest to critical (spec/08)."""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["GSTAR_METHODS", "select_gstar"]

GSTAR_METHODS = ("btot_near_one",)


def select_gstar(gains: Sequence[float], b_tot: Sequence[float], method: str = "btot_near_one") -> int:
    """Index of g* among ``gains``. ``btot_near_one``: the gain whose total branching ratio is nearest
    to 1; ties go to the gain nearer 1.0, then to the smaller gain."""
    if method not in GSTAR_METHODS:
        raise ValueError(f"unknown g* method {method!r}; known: {', '.join(GSTAR_METHODS)}")
    if len(gains) != len(b_tot) or not gains:
        raise ValueError("gains and b_tot must be non-empty and of one length")
    if not any(math.isfinite(value) for value in b_tot):
        raise ValueError("no gain has a finite total branching ratio")

    def distance(i: int) -> float:
        return abs(b_tot[i] - 1.0) if math.isfinite(b_tot[i]) else math.inf

    return min(range(len(gains)), key=lambda i: (distance(i), abs(gains[i] - 1.0), gains[i]))
