"""Processes with known answers for the metrics: driven branching, binomial subsampling, Galton-Watson.

Every generator takes a ``numpy.random.Generator`` and returns int64 arrays; series come with their
segment ``bounds`` (int64, ``(n_segments + 1,)``, ``bounds[0] = 0``, ``bounds[-1] = T``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["GaltonWatson", "binomial_subsample", "driven_branching_process", "galton_watson_avalanches"]


def driven_branching_process(m: float, h: float, n_steps: int, n_segments: int,
                             rng: np.random.Generator, rate_spread: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``A(t+1) ~ Poisson(m * A(t) + h_s)`` in ``n_segments`` independent stationary chains of ``n_steps`` each.

    ``h_s = h`` in every chain when ``rate_spread`` is 0; otherwise chain s has its own drive
    ``h_s = h * max(1 + rate_spread * z_s, 0.05)``, ``z_s ~ N(0, 1)``, so the chains' mean rates
    ``h_s / (1 - m)`` differ by a relative standard deviation ``rate_spread`` (windows of different
    activity, as the documents of a text slice). Each chain starts at its stationary mean and runs
    ``10 / (1 - m)`` burn-in steps that are discarded. Returns ``(activity (n_segments * n_steps,) int64,
    bounds)``, chains in order.
    """
    if not 0.0 <= m < 1.0 or h <= 0.0 or rate_spread < 0.0:
        raise ValueError(f"need 0 <= m < 1, h > 0 and rate_spread >= 0, got m={m}, h={h}, rate_spread={rate_spread}")
    burn_in = int(np.ceil(10.0 / (1.0 - m)))
    drive = np.full(n_segments, float(h))
    if rate_spread > 0.0:
        drive = h * np.maximum(1.0 + rate_spread * rng.standard_normal(n_segments), 0.05)
    state = np.rint(drive / (1.0 - m)).astype(np.int64)
    chains = np.empty((n_segments, n_steps), dtype=np.int64)
    for step in range(burn_in + n_steps):
        state = rng.poisson(m * state + drive)
        if step >= burn_in:
            chains[:, step - burn_in] = state
    bounds = np.arange(n_segments + 1, dtype=np.int64) * n_steps
    return chains.reshape(-1), bounds


def binomial_subsample(activity: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Each of the ``activity[t]`` events is observed with probability ``p``: ``a(t) ~ Binomial(A(t), p)``."""
    return rng.binomial(np.asarray(activity, dtype=np.int64), p).astype(np.int64)


@dataclass(frozen=True)
class GaltonWatson:
    """Avalanches of a Galton-Watson process, one seed individual each, and their activity series.

    ``sizes``/``durations`` (n,) int64: total individuals and number of generations of each tree.
    ``activity`` (sum(durations) + n + 1,) int64: a zero bin, then each tree's generation sizes
    followed by a zero bin; one segment (``bounds = [0, len(activity)]``).
    """

    sizes: np.ndarray
    durations: np.ndarray
    activity: np.ndarray
    bounds: np.ndarray


@njit(cache=True)
def _grow_trees(n_avalanches: int, offspring_mean: float, seed: int, generations: np.ndarray) -> np.ndarray:
    """Each tree's number of generations; also writes the generation sizes, trees in order, into
    ``generations`` unless it is empty (a first pass counts, a second one with the same seed fills)."""
    np.random.seed(seed)  # numba's own generator state, local to compiled code
    durations = np.empty(n_avalanches, dtype=np.int64)
    used = 0
    for tree in range(n_avalanches):
        alive = 1
        start = used
        while alive > 0:
            if generations.size:
                generations[used] = alive
            used += 1
            alive = np.random.poisson(offspring_mean * alive)
        durations[tree] = used - start
    return durations


def galton_watson_avalanches(n_avalanches: int, rng: np.random.Generator, offspring_mean: float = 1.0) -> GaltonWatson:
    """``n_avalanches`` trees with Poisson(``offspring_mean``) offspring per individual, run to extinction.

    One individual seeds each tree; a generation of ``Z`` individuals has ``Poisson(offspring_mean * Z)``
    children. Needs ``offspring_mean <= 1`` (every tree must die out). Sequential per tree, compiled;
    the compiled draws are seeded from ``rng``.
    """
    if not 0.0 < offspring_mean <= 1.0:
        raise ValueError(f"offspring_mean must be in (0, 1] for extinction, got {offspring_mean}")
    seed = int(rng.integers(2**32))
    durations = _grow_trees(n_avalanches, offspring_mean, seed, np.empty(0, dtype=np.int64))
    generation_size = np.empty(durations.sum(), dtype=np.int64)
    _grow_trees(n_avalanches, offspring_mean, seed, generation_size)
    first = np.cumsum(durations) - durations
    sizes = np.add.reduceat(generation_size, first)
    activity = np.zeros(generation_size.size + n_avalanches + 1, dtype=np.int64)
    # Generation g of tree i sits after i + 1 separating zeros and the generations before it.
    activity[np.repeat(1 + np.arange(n_avalanches), durations) + np.arange(generation_size.size)] = generation_size
    return GaltonWatson(sizes, durations, activity, np.array([0, activity.size], dtype=np.int64))
