"""g*, the gain at which the total branching ratio crosses 1 (spec/08).

Only gains whose MR fit passed its checks (``metrics.branching.fit_status`` is ``ok``) are candidates. g* is
the crossing of the line through neighbouring candidates' b_tot(g) with 1, interpolated linearly, with a
delta-method interval from the two fits' standard errors; a sweep in which b_tot does not cross 1, or in
which no gain passed its checks, has no g*, and says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

__all__ = ["CONFIDENCE_Z", "GSTAR_METHODS", "GStar", "OUTCOMES", "gstar_label", "is_gstar_gain", "select_gstar"]

GSTAR_METHODS = ("btot_near_one",)
OUTCOMES = ("crossing", "no_crossing", "no_valid_gain")
CONFIDENCE_Z = 1.96
"""Half-width of the g* interval in standard errors (a 95 % normal interval)."""


@dataclass(frozen=True)
class GStar:
    """The g* of one sweep, as written to ``results/gstar.json`` (fields in spec/08).

    ``gstar``, ``gstar_low``, ``gstar_high``, ``gstar_stderr`` are None unless ``outcome`` is ``crossing``.
    ``index`` is the swept gain the downstream phases measure in g*'s place (nulls, the bold row): the
    candidate nearest g*, or, without a g*, the swept gain nearest 1.0 (the unmodified model).
    """

    method: str
    outcome: str
    message: str
    gstar: float | None
    gstar_low: float | None
    gstar_high: float | None
    gstar_stderr: float | None
    index: int
    reference_gain: float
    b_tot: float
    b_tot_stderr: float
    b_tot_fit_status: str
    distance_to_one: float
    candidates: list[float] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: NaN becomes None (canonical JSON has no NaN)."""
        return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in asdict(self).items()}


def _range(gains: Sequence[float]) -> str:
    return f"[{min(gains):g}, {max(gains):g}]"


def select_gstar(gains: Sequence[float], b_tot: Sequence[float], b_tot_stderr: Sequence[float],
                 fit_status: Sequence[str], method: str = "btot_near_one") -> GStar:
    """g* of a sweep: ``gains`` (swept, in config order), each gain's b_tot, its standard error and its fit
    status (``ok`` or the failed checks). See the module docstring; with several crossings, the one at the
    smallest gain is g* and the message counts the others."""
    if method not in GSTAR_METHODS:
        raise ValueError(f"unknown g* method {method!r}; known: {', '.join(GSTAR_METHODS)}")
    if not gains or not len(gains) == len(b_tot) == len(b_tot_stderr) == len(fit_status):
        raise ValueError("gains, b_tot, b_tot_stderr and fit_status must be non-empty and of one length")
    valid = [i for i in range(len(gains)) if fit_status[i] == "ok" and math.isfinite(b_tot[i])]
    excluded = [{"gain": float(gains[i]), "fit_status": fit_status[i]} for i in range(len(gains)) if i not in valid]
    ordered = sorted(valid, key=lambda i: gains[i])
    crossings = [(i, j) for i, j in zip(ordered, ordered[1:]) if (b_tot[i] - 1.0) * (b_tot[j] - 1.0) <= 0.0
                 and b_tot[i] != b_tot[j]]
    reference = min(range(len(gains)), key=lambda i: (abs(gains[i] - 1.0), gains[i]))
    gstar = low = high = stderr = None
    if not valid:
        outcome = "no_valid_gain"
        message = (f"no g* in {_range(gains)}: no gain's fit passes its checks ("
                   + "; ".join(f"g = {row['gain']:g}: {row['fit_status']}" for row in excluded) + ")")
    elif not crossings:
        outcome = "no_crossing"
        side = "below" if all(b_tot[i] < 1.0 for i in valid) else "above"
        message = (f"no g* in {_range(gains)}: b_tot is {side} 1 at every gain whose fit passes its checks ("
                   + ", ".join(f"{b_tot[i]:.3f} at g = {gains[i]:g}" for i in ordered) + ")")
    else:
        outcome = "crossing"
        i, j = crossings[0]
        span, rise = gains[j] - gains[i], b_tot[j] - b_tot[i]
        gstar = gains[i] + (1.0 - b_tot[i]) * span / rise
        spread = math.hypot((1.0 - b_tot[j]) * b_tot_stderr[i], (1.0 - b_tot[i]) * b_tot_stderr[j])
        stderr = abs(span) * spread / rise**2
        low, high = gstar - CONFIDENCE_Z * stderr, gstar + CONFIDENCE_Z * stderr
        reference = min((i, j), key=lambda k: abs(gains[k] - gstar))
        message = (f"g* = {gstar:.3f} [{low:.3f}, {high:.3f}]: b_tot crosses 1 between g = {gains[i]:g} "
                   f"({b_tot[i]:.3f}) and g = {gains[j]:g} ({b_tot[j]:.3f})")
        if len(crossings) > 1:
            message += f"; {len(crossings) - 1} more crossing(s) at larger gains"
    if excluded:
        message += f"; {len(excluded)} of {len(gains)} gains excluded by their fit checks"
    return GStar(method=method, outcome=outcome, message=message, gstar=gstar, gstar_low=low, gstar_high=high,
                 gstar_stderr=stderr, index=reference, reference_gain=float(gains[reference]),
                 b_tot=float(b_tot[reference]), b_tot_stderr=float(b_tot_stderr[reference]),
                 b_tot_fit_status=fit_status[reference], distance_to_one=abs(float(b_tot[reference]) - 1.0),
                 candidates=[float(gains[i]) for i in ordered], excluded=excluded)


def is_gstar_gain(gstar: Mapping[str, Any], gain: float) -> bool:
    """Whether ``gain`` is the swept gain that stands for g* (``gstar``: the dict of ``results/gstar.json``);
    never true without a g*."""
    return gstar["outcome"] == "crossing" and math.isclose(gain, gstar["reference_gain"])


def gstar_label(gstar: Mapping[str, Any]) -> str:
    """A short label: ``g* = 1.23 [1.10, 1.36]``, or the outcome's ``no g* in [...]`` sentence's head."""
    if gstar["outcome"] == "crossing":
        return f"g* = {gstar['gstar']:.3g} [{gstar['gstar_low']:.3g}, {gstar['gstar_high']:.3g}]"
    return gstar["message"].split(":")[0]
