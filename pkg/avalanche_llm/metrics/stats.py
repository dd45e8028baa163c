"""Discrete power laws after Clauset, Shalizi & Newman (2009), SIAM Rev. 51, 661: exact fits and tests.

The model is ``p(x) = x**-alpha / zeta(alpha, xmin)`` for integers ``x >= xmin`` (Hurwitz zeta). Data are
1-D arrays of positive integers (any integer dtype, or floats holding integer values).

- :func:`fit_discrete_power_law`: exact maximum likelihood for ``alpha`` at each candidate ``xmin``; the
  ``xmin`` of smallest Kolmogorov-Smirnov distance wins.
- :func:`bootstrap_gof`: Clauset's semi-parametric bootstrap p-value.
- :func:`likelihood_ratio`: Vuong's normalized log-likelihood ratio against a discrete lognormal or
  exponential truncated at ``xmin``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.optimize import minimize
from scipy.special import erfc, log_ndtr, zeta

__all__ = ["ALPHA_MAX", "LikelihoodRatio", "PowerLawFit", "bootstrap_gof", "fit_discrete_power_law",
           "likelihood_ratio", "sample_discrete_power_law"]

ALPHA_MAX = 20.0
"""Largest exponent searched; a tail whose MLE lies beyond it is not fitted (its ``xmin`` is skipped)."""

_NEWTON_TOL = 1e-10
_SAMPLER_TABLE = 4096
_EXACT_BELOW = 2.0**50
# Euler-Maclaurin coefficients B_2j / (2j)! for j = 1..7.
_EM_COEFFICIENTS = np.array([1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160, -691 / 1307674368000,
                             1 / 74724249600])


@dataclass(frozen=True)
class PowerLawFit:
    """Power law ``x**-alpha`` on ``x >= xmin``, fitted to the ``n_tail`` of ``n`` points at or above ``xmin``.

    ``ks`` is the KS distance of the tail to the fit and ``log_likelihood`` the tail's exact log likelihood
    at ``alpha``. ``xmin_fixed`` tells whether ``xmin`` was given (True) or chosen by the scan (False).
    """

    alpha: float
    xmin: int
    ks: float
    n_tail: int
    n: int
    log_likelihood: float
    xmin_fixed: bool = False


@dataclass(frozen=True)
class LikelihoodRatio:
    """Vuong test of the power law against ``alternative``: ``R > 0`` favours the power law, ``p`` two-sided.

    ``params`` are the alternative's MLE: ``(lambda,)`` for "exponential", ``(mu, sigma)`` for "lognormal".
    """

    alternative: str
    R: float
    p: float
    params: tuple[float, ...]


def _positive_integers(data: np.ndarray) -> np.ndarray:
    """Sorted float64 copy of ``data``, checked to be a non-empty 1-D array of positive integers."""
    array = np.asarray(data)
    if array.ndim != 1:
        raise ValueError(f"data must be a 1-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError("data is empty")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"data must be numeric, got {array.dtype}")
    values = np.sort(array.astype(np.float64))
    if not np.all(np.isfinite(values)) or np.any(values != np.floor(values)):
        raise ValueError("data must hold integers; got non-integer or non-finite values")
    if values[0] <= 0:
        raise ValueError(f"a discrete power law needs positive values; data holds {values[0]:g}")
    return values


def _tail_table(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``values``: the distinct values ``u`` (K,), and for each ``u[j]`` the count (float64) and the
    sum of ``log x`` of the points ``>= u[j]``."""
    distinct, counts = np.unique(values, return_counts=True)
    n_at_least = np.cumsum(counts[::-1])[::-1].astype(np.float64)
    log_sum = np.cumsum((counts * np.log(distinct))[::-1])[::-1]
    return distinct, n_at_least, log_sum


def _log_zeta(alpha: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.log(zeta(alpha, q))


def _alpha_mle(xmin: np.ndarray, mean_log: np.ndarray) -> np.ndarray:
    """Exact MLE of ``alpha`` per candidate (NaN beyond ``ALPHA_MAX``); inputs and output are ``(K,)``.

    The score equation is ``E_alpha[log X] = mean log x`` with ``E_alpha[log X] = -d/dalpha log zeta(alpha, xmin)``,
    decreasing in alpha; it is solved by Newton's method safeguarded by bisection inside a shrinking
    bracket ``(1, ALPHA_MAX]``, with the derivatives of ``log zeta`` (scipy's Hurwitz zeta) taken by
    central differences. Starts from Clauset's approximation ``1 + 1 / mean log(x / (xmin - 1/2))``.
    """
    alpha = np.clip(1.0 + 1.0 / (mean_log - np.log(xmin - 0.5)), 1.0 + 1e-6, ALPHA_MAX)
    low, high = np.ones_like(alpha), np.full_like(alpha, ALPHA_MAX)
    expected_at_max = -(_log_zeta(ALPHA_MAX + 1e-4, xmin) - _log_zeta(ALPHA_MAX - 1e-4, xmin)) / 2e-4
    fittable = expected_at_max < mean_log
    active = fittable.copy()
    for _ in range(200):
        if not active.any():
            break
        a, q, target = alpha[active], xmin[active], mean_log[active]
        h = np.minimum(1e-4, (a - 1.0) / 4)
        below, centre, above = _log_zeta(a - h, q), _log_zeta(a, q), _log_zeta(a + h, q)
        score = -(above - below) / (2 * h) - target
        curvature = (above - 2 * centre + below) / h**2  # Var_alpha(log X) = -d score / d alpha
        lo = np.where(score > 0, a, low[active])
        hi = np.where(score < 0, a, high[active])
        newton = a + score / np.where(curvature > 0, curvature, np.nan)
        proposal = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
        done = np.abs(proposal - a) < _NEWTON_TOL
        low[active], high[active], alpha[active] = lo, hi, proposal
        active[np.flatnonzero(active)[done]] = False
    alpha[~fittable] = np.nan
    return alpha


@njit(cache=True)
def _hurwitz_zeta(s: float, q: float) -> float:
    """Hurwitz zeta for ``s > 1``, ``q >= 1``: direct terms up to ``q >= 16 + s``, then Euler-Maclaurin to B_14.

    Relative error below 1e-13 for ``1 < s <= ALPHA_MAX`` (checked against scipy in the tests).
    """
    total = 0.0
    while q < 16.0 + s:
        total += q**-s
        q += 1.0
    power = q**-s
    total += power * q / (s - 1.0) + 0.5 * power
    inverse_square = 1.0 / (q * q)
    term = s * power / q
    total += _EM_COEFFICIENTS[0] * term
    for j in range(1, _EM_COEFFICIENTS.size):
        term *= (s + 2 * j - 1) * (s + 2 * j) * inverse_square
        total += _EM_COEFFICIENTS[j] * term
    return total


@njit(cache=True)
def _ks_distances(distinct: np.ndarray, n_at_least: np.ndarray, first: np.ndarray, xmins: np.ndarray,
                  alphas: np.ndarray) -> np.ndarray:
    """KS distance per candidate: ``max |S_data(u) - S_fit(u)|`` over the distinct values ``u >= xmin``.

    ``S(u) = P(X >= u)`` in the tail: ``n_at_least[i] / n_at_least[first]`` for the data and
    ``zeta(alpha, u) / zeta(alpha, xmin)`` for the fit. Both fall with ``u``, so the scan of one candidate
    stops once both are below the largest distance found.
    """
    distances = np.empty(first.size)
    for c in range(first.size):
        s = alphas[c]
        z_min = _hurwitz_zeta(s, xmins[c])
        n_tail = n_at_least[first[c]]
        distance = 0.0
        for i in range(first[c], distinct.size):
            empirical = n_at_least[i] / n_tail
            fitted = _hurwitz_zeta(s, distinct[i]) / z_min
            distance = max(distance, abs(empirical - fitted))
            if empirical <= distance and fitted <= distance:
                break
        distances[c] = distance
    return distances


def fit_discrete_power_law(data: np.ndarray, *, xmin: int | None = None, min_tail: int = 50,
                           xmax_scan: int | None = None) -> PowerLawFit:
    """Fit ``p(x) = x**-alpha / zeta(alpha, xmin)`` to the points ``>= xmin`` of ``data`` by exact maximum likelihood.

    With ``xmin=None`` every distinct data value with at least ``min_tail`` points at or above it and at
    least one larger value (and ``<= xmax_scan`` when given) is a candidate; the candidate whose fit has
    the smallest KS distance (:func:`_ks_distances`; ties to the smaller ``xmin``) wins. A given ``xmin``
    is used as is and its tail must hold ``min_tail`` points and two distinct values. Raises ValueError on
    empty or non-positive-integer data and on too few tail points.
    """
    values = _positive_integers(data)
    if int(min_tail) != min_tail or min_tail < 2:
        raise ValueError(f"min_tail must be an integer >= 2, got {min_tail}")
    distinct, n_at_least, log_sum = _tail_table(values)
    if xmin is not None:
        if int(xmin) != xmin or xmin < 1:
            raise ValueError(f"xmin must be an integer >= 1, got {xmin}")
        first = np.array([np.searchsorted(distinct, xmin)])
        if first[0] >= distinct.size - 1 or n_at_least[first[0]] < min_tail:
            n_tail = int(n_at_least[first[0]]) if first[0] < distinct.size else 0
            raise ValueError(f"xmin={xmin} leaves {n_tail} points in {distinct.size - first[0]} distinct values; "
                             f"a fit needs at least {min_tail} points and 2 distinct values")
        xmins = np.array([float(xmin)])
    else:
        if xmax_scan is not None and (int(xmax_scan) != xmax_scan or xmax_scan < 1):
            raise ValueError(f"xmax_scan must be an integer >= 1, got {xmax_scan}")
        scan = (n_at_least[:-1] >= min_tail) & (distinct[:-1] <= (np.inf if xmax_scan is None else xmax_scan))
        first = np.flatnonzero(scan)
        if first.size == 0:
            raise ValueError(f"no candidate xmin: {values.size} points in {distinct.size} distinct values, and a "
                             f"candidate needs {min_tail} points at or above it and a larger value")
        xmins = distinct[first]
    alphas = _alpha_mle(xmins, log_sum[first] / n_at_least[first])
    fitted = np.isfinite(alphas)
    if not fitted.any():
        raise ValueError(f"the MLE of alpha exceeds {ALPHA_MAX} at every candidate xmin")
    distances = np.full(first.size, np.inf)
    distances[fitted] = _ks_distances(distinct, n_at_least, first[fitted], xmins[fitted], alphas[fitted])
    best = int(np.argmin(distances))
    alpha, lowest, j = float(alphas[best]), float(xmins[best]), int(first[best])
    n_tail = int(n_at_least[j])
    log_likelihood = -alpha * log_sum[j] - n_tail * float(_log_zeta(alpha, lowest))
    return PowerLawFit(alpha=alpha, xmin=int(lowest), ks=float(distances[best]), n_tail=n_tail, n=int(values.size),
                       log_likelihood=float(log_likelihood), xmin_fixed=xmin is not None)


def _survival(alpha: float, x: np.ndarray, z_min: float) -> np.ndarray:
    """``P(X >= x) = zeta(alpha, x) / zeta(alpha, xmin)``."""
    return zeta(alpha, x) / z_min


def sample_discrete_power_law(alpha: float, xmin: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of the discrete power law on ``x >= xmin``, float64 holding integers.

    Exact inverse-CDF sampling: with ``u`` uniform on (0, 1], ``x`` is the largest integer with
    ``P(X >= x) >= u``. It is found in a table of the first 4096 values, else by integer bisection
    on scipy's Hurwitz zeta. Draws beyond ``2**50`` (probability ``~ (2**50 / xmin)**(1 - alpha)``)
    take Clauset's continuous approximation ``floor((xmin - 1/2) u**(-1 / (alpha - 1)) + 1/2)``,
    whose relative error there is below 1e-25; floats keep such heavy-tail draws from overflowing.
    """
    if not 1.0 < alpha <= ALPHA_MAX:
        raise ValueError(f"alpha must be in (1, {ALPHA_MAX}], got {alpha}")
    if int(xmin) != xmin or xmin < 1:
        raise ValueError(f"xmin must be an integer >= 1, got {xmin}")
    if int(size) != size or size < 0:
        raise ValueError(f"size must be an integer >= 0, got {size}")
    z_min = float(zeta(alpha, xmin))
    table = _survival(alpha, xmin + np.arange(_SAMPLER_TABLE, dtype=np.float64), z_min)
    u = 1.0 - rng.random(int(size))
    at_least = np.searchsorted(-table, -u, side="right")  # how many table values x have P(X >= x) >= u
    draws = (xmin - 1 + at_least).astype(np.float64)
    beyond = np.flatnonzero(at_least == _SAMPLER_TABLE)
    if beyond.size:
        draws[beyond] = _tail_inverse(alpha, xmin, u[beyond], z_min)
    return draws


def _tail_inverse(alpha: float, xmin: int, u: np.ndarray, z_min: float) -> np.ndarray:
    """Inverse survival function for ``u <= P(X >= xmin + table - 1)``, by bracketing and integer bisection."""
    approximate = np.floor((xmin - 0.5) * u ** (-1.0 / (alpha - 1.0)) + 0.5)
    result = approximate.copy()
    exact = np.flatnonzero(approximate < _EXACT_BELOW)
    u = u[exact]
    low = np.full(exact.size, float(xmin + _SAMPLER_TABLE - 1))  # P(X >= low) >= u holds
    high = np.maximum(low + 1.0, 2.0 * approximate[exact] + 1.0)
    while True:  # widen until P(X >= high) < u
        short = _survival(alpha, high, z_min) >= u
        if not short.any():
            break
        low[short], high[short] = high[short], 2.0 * high[short]
    while np.any(high - low > 1.0):
        middle = np.floor(0.5 * (low + high))
        inside = _survival(alpha, middle, z_min) >= u
        low, high = np.where(inside, middle, low), np.where(inside, high, middle)
    result[exact] = low
    return result


def bootstrap_gof(data: np.ndarray, fit: PowerLawFit, *, n_boot: int, rng: np.random.Generator, min_tail: int = 50,
                  xmax_scan: int | None = None) -> float:
    """Clauset's semi-parametric bootstrap p-value: the fraction of ``n_boot`` synthetic sets whose refit KS
    distance is at least ``fit.ks``.

    A scanned fit (``fit.xmin_fixed`` False): each set has ``n`` points, each with probability
    ``n_tail / n`` a power-law draw above ``xmin`` and otherwise a uniform draw from the data below
    ``xmin``; it is refitted with the same scan (``min_tail``, ``xmax_scan``). A fit at a given ``xmin``:
    each set is ``n_tail`` power-law draws, refitted at that ``xmin``. ``fit`` must come from ``data``.
    """
    values = _positive_integers(data)
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot}")
    if values.size != fit.n or int(np.count_nonzero(values >= fit.xmin)) != fit.n_tail:
        raise ValueError("fit was not made from this data (n or n_tail differ)")
    body = values[values < fit.xmin]
    exceed = 0
    for _ in range(int(n_boot)):
        if fit.xmin_fixed:
            synthetic = sample_discrete_power_law(fit.alpha, fit.xmin, fit.n_tail, rng)
            refit = fit_discrete_power_law(synthetic, xmin=fit.xmin, min_tail=min_tail)
        else:
            n_tail = rng.binomial(fit.n, fit.n_tail / fit.n)
            synthetic = np.concatenate((sample_discrete_power_law(fit.alpha, fit.xmin, n_tail, rng),
                                        rng.choice(body, size=fit.n - n_tail) if body.size else np.empty(0)))
            refit = fit_discrete_power_law(synthetic, min_tail=min_tail, xmax_scan=xmax_scan)
        exceed += refit.ks >= fit.ks
    return exceed / int(n_boot)


def _log_interval_mass(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``log(Phi(upper) - Phi(lower))`` for ``lower < upper``.

    Wide intervals go through ``log_ndtr`` on the tail side away from the bulk; intervals narrower
    than 1e-4 (where that difference loses digits) through the midpoint rule with its second-order
    term, ``phi(m) w (1 + w**2 (m**2 - 1) / 24)``, relative error ``O(w**4)``.
    """
    width = upper - lower
    result = np.empty_like(width)
    narrow = width < 1e-4
    middle, w = 0.5 * (lower[narrow] + upper[narrow]), width[narrow]
    result[narrow] = -0.5 * (middle**2 + np.log(2 * np.pi)) + np.log(w) + np.log1p(w**2 * (middle**2 - 1) / 24)
    wide = ~narrow
    upper_tail = lower[wide] > 0
    a = np.where(upper_tail, -upper[wide], lower[wide])
    b = np.where(upper_tail, -lower[wide], upper[wide])
    log_b = log_ndtr(b)
    result[wide] = log_b + np.log(-np.expm1(log_ndtr(a) - log_b))
    return result


def _lognormal_loglikelihoods(x: np.ndarray, xmin: float, mu: float, sigma: float) -> np.ndarray:
    """Per-point log pmf of the discrete lognormal ``P(x) ∝ Phi(z(x + 1/2)) - Phi(z(x - 1/2))`` on ``x >= xmin``."""
    lower, upper, edge = ((np.log(y) - mu) / sigma for y in (x - 0.5, x + 0.5, xmin - 0.5))
    return _log_interval_mass(lower, upper) - log_ndtr(-edge)


def _fit_lognormal(values: np.ndarray, counts: np.ndarray, xmin: float) -> tuple[float, float]:
    """MLE ``(mu, sigma)`` of the truncated discrete lognormal; Nelder-Mead on ``(mu, log sigma)`` from the
    moments of ``log x``, then BFGS from there."""
    logs = np.log(values)
    mean = float(np.average(logs, weights=counts))
    spread = float(np.sqrt(np.average((logs - mean) ** 2, weights=counts)))

    def negative(params: np.ndarray) -> float:
        return -float(counts @ _lognormal_loglikelihoods(values, xmin, params[0], np.exp(params[1])))

    start = np.array([mean, np.log(max(spread, 1e-3))])
    coarse = minimize(negative, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    fine = minimize(negative, coarse.x, method="BFGS", options={"gtol": 1e-8})
    best = fine.x if fine.fun <= coarse.fun else coarse.x
    return float(best[0]), float(np.exp(best[1]))


def likelihood_ratio(data: np.ndarray, fit: PowerLawFit, alternative: str) -> LikelihoodRatio:
    """Vuong's test on the tail ``x >= fit.xmin``: ``R = sum(d) / (sqrt(n) std(d))`` with ``d`` the per-point
    log-likelihood differences (power law minus alternative, ``std`` with ddof=0), ``p = erfc(|R| / sqrt 2)``.

    Alternatives, each truncated at ``xmin`` and fitted by MLE on the tail:
    - "exponential": ``P(x) = (1 - e**-lambda) e**(-lambda (x - xmin))`` (exact geometric MLE);
    - "lognormal": ``P(x)`` = lognormal mass of ``[x - 1/2, x + 1/2)`` over its mass above ``xmin - 1/2``
      (powerlaw's 'round' discretization), fitted numerically.
    """
    values = _positive_integers(data)
    tail = values[values >= fit.xmin]
    if tail.size != fit.n_tail:
        raise ValueError("fit was not made from this data (n_tail differs)")
    distinct, counts = np.unique(tail, return_counts=True)
    if distinct.size < 2:
        raise ValueError("the tail holds a single distinct value; no alternative can be compared")
    power_law = -fit.alpha * np.log(distinct) - float(_log_zeta(fit.alpha, float(fit.xmin)))
    if alternative == "exponential":
        rate = float(np.log1p(1.0 / (tail.mean() - fit.xmin)))
        other = np.log(-np.expm1(-rate)) - rate * (distinct - fit.xmin)
        params: tuple[float, ...] = (rate,)
    elif alternative == "lognormal":
        mu, sigma = _fit_lognormal(distinct, counts, float(fit.xmin))
        other = _lognormal_loglikelihoods(distinct, float(fit.xmin), mu, sigma)
        params = (mu, sigma)
    else:
        raise ValueError(f"alternative must be 'lognormal' or 'exponential', got {alternative!r}")
    difference = power_law - other
    n = tail.size
    mean = float(counts @ difference) / n
    spread = float(np.sqrt(counts @ (difference - mean) ** 2 / n))
    if spread == 0.0:
        raise ValueError("the log-likelihood differences do not vary; Vuong's statistic is undefined")
    ratio = mean * n / (np.sqrt(n) * spread)
    return LikelihoodRatio(alternative=alternative, R=float(ratio), p=float(erfc(abs(ratio) / np.sqrt(2.0))),
                           params=params)
