"""Crackling-noise scaling relation of avalanches (Sethna, Dahmen & Myers 2001; Friedman et al. 2012).

With ``P(S) ~ S**-tau``, ``P(T) ~ T**-alpha`` and ``<S>(T) ~ T**gamma``, criticality predicts
``gamma = (alpha - 1) / (tau - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .avalanches import Avalanches, mean_size_by_duration
from .stats import PowerLawFit

__all__ = ["MIN_AVALANCHES_PER_DURATION", "Crackling", "crackling_relation"]

MIN_AVALANCHES_PER_DURATION = 10
"""A duration enters the fit of ``<S>(T)`` only when at least this many avalanches have it."""


@dataclass(frozen=True)
class Crackling:
    """Exponents ``tau`` (sizes), ``alpha`` (durations), ``gamma_fit`` (measured), ``gamma_pred``
    ``= (alpha - 1) / (tau - 1)``, and ``difference = gamma_fit - gamma_pred``."""

    tau: float
    alpha: float
    gamma_fit: float
    gamma_pred: float
    difference: float


def crackling_relation(av: Avalanches, size_fit: PowerLawFit, duration_fit: PowerLawFit) -> Crackling:
    """``gamma_fit``: least-squares slope of ``log <S>(T)`` on ``log T`` over the distinct durations
    ``T >= duration_fit.xmin`` held by at least :data:`MIN_AVALANCHES_PER_DURATION` avalanches, each
    duration weighted equally. Raises ValueError when fewer than 3 durations qualify.
    """
    durations, mean_sizes = mean_size_by_duration(av)
    counts = np.bincount(np.searchsorted(durations, np.asarray(av.durations, dtype=np.int64)),
                         minlength=durations.size)
    used = (durations >= duration_fit.xmin) & (counts >= MIN_AVALANCHES_PER_DURATION)
    if used.sum() < 3:
        raise ValueError(f"{int(used.sum())} durations >= {duration_fit.xmin} have at least "
                         f"{MIN_AVALANCHES_PER_DURATION} avalanches each; the <S>(T) fit needs 3")
    gamma_fit = float(np.polyfit(np.log(durations[used]), np.log(mean_sizes[used]), 1)[0])
    tau, alpha = size_fit.alpha, duration_fit.alpha
    gamma_pred = (alpha - 1.0) / (tau - 1.0)
    return Crackling(tau=float(tau), alpha=float(alpha), gamma_fit=gamma_fit, gamma_pred=float(gamma_pred),
                     difference=gamma_fit - float(gamma_pred))
