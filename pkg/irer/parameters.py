"""The names of the evolved IRER parameters, in column order; free of JAX so the hunter can import it."""

from __future__ import annotations

__all__ = ["PARAMETER_NAMES"]

PARAMETER_NAMES: tuple[str, ...] = ("kappa", "sigma_k", "alpha")
"""The evolved parameters, in the column order of every ``(P, 3)`` parameter matrix.

kappa: strength of the non-local saturation (times ``FieldModel.nonlocal_gain``, in units of the unit
local saturation coefficient); sigma_k: sets the kernel's ring radius ``ring_scale / sigma_k``,
1/length; alpha: metric exponent, dimensionless. Their prior is ``irer.hunter.Prior`` (the seed's:
[0.001, 0.1], [0.1, 1.0], [0.01, 1.0]).
"""
