"""The multistep-regression fit with an offset, ``r_k = b * m**k + c``, vectorised over many r_k curves.

For a fixed ``m`` the model is linear in ``(b, c)``, so the least-squares problem is solved by variable
projection (Golub & Pereyra 1973): the residual sum of squares profiled over ``(b, c)`` is evaluated on a
grid of ``m`` for every curve at once, and the best grid point is refined by golden-section search inside
its two neighbours, then polished by two Gauss-Newton steps. There is no start value and no iteration
that can diverge: ``m`` always lies in ``[M_MIN, M_MAX]``, and an estimate at an end of that range says
the data did not bound it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["M_MAX", "M_MIN", "OffsetFits", "fit_offset_exponential"]

M_MIN = 1e-3
"""Smallest m searched: at m = 0 the term b * m**k vanishes for every k >= 1 and b is not defined."""
M_MAX = 1.5
"""Largest m searched: supercritical propagation up to 1.5 per time bin."""
_GRID_STEP = 2e-3
_GOLDEN_STEPS = 40  # the bracket shrinks by 0.618**40 ~ 4e-9 of one grid step
_INVGOLD = (math.sqrt(5.0) - 1.0) / 2.0
_NEWTON_STEPS = 2


@dataclass(frozen=True)
class OffsetFits:
    """Least-squares fits of ``r_k = b * m**k + c``, one per curve; every field is float64 ``(n_curves,)``.

    ``rss`` is the residual sum of squares of the fit, ``rss_offset`` that of the offset-only model
    ``r_k = c`` (the sum of squares about the curve's mean). A curve holding NaN gives NaN everywhere.
    """

    m: np.ndarray
    b: np.ndarray
    c: np.ndarray
    rss: np.ndarray
    rss_offset: np.ndarray


def _grid() -> np.ndarray:
    """The searched m: [M_MIN, M_MAX] in steps of 0.002, m = 1 left out (there m**k is constant in k,
    confounded with c)."""
    grid = np.arange(M_MIN, M_MAX + _GRID_STEP / 2, _GRID_STEP)
    return grid[np.abs(grid - 1.0) > _GRID_STEP / 4]


def _linear_part(m: np.ndarray, k: np.ndarray, centred: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares ``(b, c)`` of each curve at its ``m`` (all ``(n_curves,)``)."""
    f = m[:, None] ** k
    f_mean = f.mean(axis=1)
    fc = f - f_mean[:, None]
    b = np.sum(centred * fc, axis=1) / np.sum(fc**2, axis=1)
    return b, mean - b * f_mean


def _gauss_newton_step(m: np.ndarray, b: np.ndarray, c: np.ndarray, k: np.ndarray,
                       data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Gauss-Newton step on ``(b, m, c)`` per curve, kept only where it lowers the residual and m stays
    in [M_MIN, M_MAX]."""
    f = m[:, None] ** k
    residual = data - (b[:, None] * f + c[:, None])
    jacobian = np.stack((f, b[:, None] * k * m[:, None] ** (k - 1), np.ones_like(f)), axis=2)  # (n, K, 3)
    normal = np.einsum("nki,nkj->nij", jacobian, jacobian)
    rhs = np.einsum("nki,nk->ni", jacobian, residual)
    solvable = np.abs(np.linalg.det(normal)) > 1e-300
    step = np.zeros_like(rhs)
    step[solvable] = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0]
    new_b, new_m, new_c = b + step[:, 0], m + step[:, 1], c + step[:, 2]
    inside = (new_m >= M_MIN) & (new_m <= M_MAX)
    new_m = np.clip(new_m, M_MIN, M_MAX)
    new_rss = np.sum((data - (new_b[:, None] * new_m[:, None] ** k + new_c[:, None])) ** 2, axis=1)
    better = solvable & inside & (new_rss <= np.sum(residual**2, axis=1))
    return np.where(better, new_m, m), np.where(better, new_b, b), np.where(better, new_c, c)


def fit_offset_exponential(lags: np.ndarray, r_k: np.ndarray) -> OffsetFits:
    """Fit ``r_k = b * m**k + c`` to each row of ``r_k`` (float64 ``(n_curves, K)``, K >= 3) at ``lags``
    (int ``(K,)``, ascending, >= 1). Unweighted least squares; m in [M_MIN, M_MAX] (see the module)."""
    k = np.asarray(lags, dtype=np.float64)
    curves = np.atleast_2d(np.asarray(r_k, dtype=np.float64))
    if k.ndim != 1 or k.size < 3 or curves.shape[-1] != k.size:
        raise ValueError(f"need K >= 3 lags and curves of K values, got lags {k.shape} and curves {curves.shape}")
    finite = np.all(np.isfinite(curves), axis=1)
    data = np.where(finite[:, None], curves, 0.0)
    mean = data.mean(axis=1)
    centred = data - mean[:, None]
    total = np.sum(centred**2, axis=1)

    grid = _grid()
    basis = grid[:, None] ** k
    basis -= basis.mean(axis=1, keepdims=True)
    rss_grid = total[:, None] - (centred @ basis.T) ** 2 / np.sum(basis**2, axis=1)
    best = np.argmin(rss_grid, axis=1)
    low = grid[np.maximum(best - 1, 0)]
    high = grid[np.minimum(best + 1, grid.size - 1)]

    def rss_at(m: np.ndarray) -> np.ndarray:
        f = m[:, None] ** k
        f -= f.mean(axis=1, keepdims=True)
        return total - np.sum(centred * f, axis=1) ** 2 / np.sum(f**2, axis=1)

    # Golden-section search of each curve's bracket, all curves at once. A bracket that straddles m = 1
    # keeps its search off the singular point by the inequality below.
    a, d = low.copy(), high.copy()
    x1, x2 = d - _INVGOLD * (d - a), a + _INVGOLD * (d - a)
    f1, f2 = rss_at(x1), rss_at(x2)
    for _ in range(_GOLDEN_STEPS):
        left = f1 <= f2
        d = np.where(left, x2, d)
        a = np.where(left, a, x1)
        new = np.where(left, d - _INVGOLD * (d - a), a + _INVGOLD * (d - a))
        f_new = rss_at(new)
        x2, f2, x1, f1 = (np.where(left, x1, new), np.where(left, f1, f_new),
                          np.where(left, new, x2), np.where(left, f_new, f2))
    refined = np.where(f1 <= f2, x1, x2)
    refined_rss = np.minimum(f1, f2)
    at_grid = rss_grid[np.arange(best.size), best]
    m = np.where(refined_rss <= at_grid, refined, grid[best])

    b, c = _linear_part(m, k, centred, mean)
    for _ in range(_NEWTON_STEPS):  # the minimum of a flat profile is found to sqrt(eps) only: polish it
        m, b, c = _gauss_newton_step(m, b, c, k, data)
    rss = np.sum((data - (b[:, None] * m[:, None] ** k + c[:, None])) ** 2, axis=1)
    nan = np.where(finite, 1.0, np.nan)
    return OffsetFits(m=m * nan, b=b * nan, c=c * nan, rss=rss * nan, rss_offset=total * nan)
