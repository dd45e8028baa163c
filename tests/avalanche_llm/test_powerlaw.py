"""Discrete power laws: exact MLE and sampler, agreement with the ``powerlaw`` package, bootstrap GOF, LR tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import zeta

from avalanche_llm.metrics.stats import (
    PowerLawFit,
    _hurwitz_zeta,
    bootstrap_gof,
    fit_discrete_power_law,
    likelihood_ratio,
    sample_discrete_power_law,
)

from avalanche_llm.metrics.synthetic import galton_watson_avalanches


def powerlaw_fit(data: np.ndarray, xmin: float | tuple[float, float]):
    """``powerlaw.Fit`` as the spec names it; its fitting warnings (optimizer, alpha near 1) are its own business."""
    import powerlaw

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return powerlaw.Fit(data, discrete=True, estimate_discrete=False, xmin=xmin, verbose=0)


def exponential_sample(size: int, seed: int) -> np.ndarray:
    return np.floor(np.random.default_rng(seed).exponential(10.0, size)) + 1


def lognormal_sample(size: int, seed: int, mu: float = 2.0, sigma: float = 1.0) -> np.ndarray:
    return np.floor(np.random.default_rng(seed).lognormal(mu, sigma, size)) + 1


def test_compiled_hurwitz_zeta_matches_scipy() -> None:
    s, q = np.meshgrid([1.001, 1.2, 1.5, 2.0, 3.0, 7.5, 20.0], [1, 2, 5, 15, 16, 17, 36, 37, 100, 1e4, 1e9, 1e13])
    ours = np.array([_hurwitz_zeta(a, b) for a, b in zip(s.ravel(), q.ravel())])
    np.testing.assert_allclose(ours, zeta(s.ravel(), q.ravel()), rtol=1e-12)


def test_alpha_is_the_exact_maximum_likelihood() -> None:
    data = sample_discrete_power_law(1.8, 3, 5_000, np.random.default_rng(1))
    fit = fit_discrete_power_law(data, xmin=3)
    tail = data[data >= 3]

    def negative_log_likelihood(alpha: float) -> float:
        return alpha * np.log(tail).sum() + tail.size * np.log(zeta(alpha, 3))

    best = minimize_scalar(negative_log_likelihood, bounds=(1.01, 4.0), method="bounded", options={"xatol": 1e-11})
    assert fit.alpha == pytest.approx(best.x, abs=1e-8)
    assert fit.log_likelihood == pytest.approx(-best.fun, rel=1e-12)
    assert (fit.xmin, fit.n_tail, fit.n, fit.xmin_fixed) == (3, 5_000, 5_000, True)


def test_sampler_follows_the_exact_pmf() -> None:
    """Frequencies inside the 4096-value table and survival beyond it (bisection on zeta), within 4 sigma."""
    alpha, xmin, size = 1.5, 2, 400_000
    draws = sample_discrete_power_law(alpha, xmin, size, np.random.default_rng(2))
    assert draws.dtype == np.float64 and np.all(draws == np.floor(draws)) and draws.min() == xmin
    for x in (2, 3, 4, 10, 50):
        expected = x**-alpha / zeta(alpha, xmin)
        assert abs(np.mean(draws == x) - expected) <= 4 * np.sqrt(expected / size)
    for x in (100, 4_097, 10_000, 1_000_000):
        expected = zeta(alpha, x) / zeta(alpha, xmin)
        assert abs(np.mean(draws >= x) - expected) <= 4 * np.sqrt(expected / size)


@pytest.mark.parametrize(("alpha", "xmin"), [(1.5, 1), (2.5, 4)])
def test_recovers_the_exponent_of_exact_samples(alpha: float, xmin: int) -> None:
    data = sample_discrete_power_law(alpha, xmin, 20_000, np.random.default_rng(3))
    fit = fit_discrete_power_law(data, xmin=xmin)
    assert abs(fit.alpha - alpha) <= 4 * (alpha - 1) / np.sqrt(fit.n_tail)


def test_scan_matches_powerlaw_package_on_galton_watson_sizes() -> None:
    """Same candidate xmins (the powerlaw range keeps those with >= 50 tail points): same xmin, alpha, KS."""
    sizes = galton_watson_avalanches(10_000, np.random.default_rng(4)).sizes
    ours = fit_discrete_power_law(sizes, min_tail=50)
    distinct, counts = np.unique(sizes, return_counts=True)
    n_at_least = np.cumsum(counts[::-1])[::-1]
    last_candidate = np.flatnonzero(n_at_least[:-1] >= 50)[-1]
    theirs = powerlaw_fit(sizes, (distinct[0], distinct[last_candidate + 1] + 0.5))
    assert ours.xmin == theirs.xmin
    assert ours.alpha == pytest.approx(theirs.power_law.alpha, abs=1e-3)
    assert ours.ks == pytest.approx(theirs.power_law.D, abs=1e-4)
    assert ours.n_tail == int(np.count_nonzero(sizes >= ours.xmin)) and ours.n == sizes.size


def test_fixed_xmin_matches_powerlaw_package() -> None:
    data = sample_discrete_power_law(2.2, 1, 3_000, np.random.default_rng(5))
    ours = fit_discrete_power_law(data, xmin=6)
    theirs = powerlaw_fit(data, 6)
    assert ours.alpha == pytest.approx(theirs.power_law.alpha, abs=1e-3)
    assert ours.ks == pytest.approx(theirs.power_law.D, abs=1e-4)


def test_xmax_scan_bounds_the_candidates() -> None:
    data = sample_discrete_power_law(2.0, 1, 5_000, np.random.default_rng(6))
    assert fit_discrete_power_law(data, xmax_scan=1).xmin == 1
    assert fit_discrete_power_law(data, xmax_scan=3).xmin <= 3


def test_bootstrap_accepts_a_true_power_law() -> None:
    data = sample_discrete_power_law(2.5, 1, 2_000, np.random.default_rng(7))
    fit = fit_discrete_power_law(data)
    assert bootstrap_gof(data, fit, n_boot=50, rng=np.random.default_rng(8)) > 0.1


def test_bootstrap_at_fixed_xmin_accepts_a_true_power_law() -> None:
    data = sample_discrete_power_law(1.7, 2, 2_000, np.random.default_rng(9))
    fit = fit_discrete_power_law(data, xmin=2)
    assert bootstrap_gof(data, fit, n_boot=50, rng=np.random.default_rng(10)) > 0.1


@pytest.mark.parametrize(
    ("data", "xmin", "min_tail"),
    [
        (exponential_sample(5_000, 11), None, 500),
        (lognormal_sample(20_000, 12, sigma=0.7), None, 1_000),
        (lognormal_sample(2_000, 13), 5, 50),
    ],
    ids=["exponential", "lognormal", "lognormal-xmin5"],
)
def test_bootstrap_rejects_other_distributions(data: np.ndarray, xmin: int | None, min_tail: int) -> None:
    """With the scan, a tail that must hold ``min_tail`` points: with 50 of them an exponential or lognormal
    far tail often passes for a steep power law (Clauset et al. 2009, sec. 4), so the scans here ask for more."""
    fit = fit_discrete_power_law(data, xmin=xmin, min_tail=min_tail)
    assert bootstrap_gof(data, fit, n_boot=50, rng=np.random.default_rng(14), min_tail=min_tail) < 0.05


@pytest.mark.parametrize(
    ("data", "xmin", "alternative", "sign", "same_size"),
    [
        (sample_discrete_power_law(2.0, 1, 20_000, np.random.default_rng(15)), 1, "exponential", 1, False),
        (exponential_sample(5_000, 16), 3, "exponential", -1, True),
        (exponential_sample(5_000, 16), 1, "lognormal", -1, True),
        (lognormal_sample(5_000, 17, sigma=0.7), 1, "lognormal", -1, True),
    ],
    ids=["powerlaw-vs-exponential", "exponential-vs-exponential", "exponential-vs-lognormal", "lognormal-vs-lognormal"],
)
def test_likelihood_ratio_agrees_with_powerlaw_package(data: np.ndarray, xmin: int, alternative: str, sign: int,
                                                       same_size: bool) -> None:
    """Same sign, both p small; same R within 5% where ``powerlaw`` computes the likelihoods exactly. On the
    heavy power-law sample it floors each exponential likelihood at 1e-308 (e**-(lambda x) underflows in the
    far tail), which shrinks the spread of the differences and inflates its normalized R (13.2 against 5.1)."""
    fit = fit_discrete_power_law(data, xmin=xmin)
    ours = likelihood_ratio(data, fit, alternative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_r, their_p = powerlaw_fit(data, xmin).distribution_compare("power_law", alternative,
                                                                         normalized_ratio=True)
    assert np.sign(ours.R) == np.sign(their_r) == sign
    assert ours.p < 1e-3 and their_p < 1e-3
    if same_size:
        assert ours.R == pytest.approx(their_r, rel=0.05)
    assert ours.alternative == alternative and len(ours.params) == (1 if alternative == "exponential" else 2)


def test_exponential_alternative_is_the_geometric_mle() -> None:
    data = exponential_sample(3_000, 18)
    fit = fit_discrete_power_law(data, xmin=2)
    tail = data[data >= 2]
    assert likelihood_ratio(data, fit, "exponential").params[0] == pytest.approx(np.log1p(1 / (tail.mean() - 2)))


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (np.array([], dtype=np.int64), {}, "empty"),
        (np.array([1, 2, 0, 5] * 30), {}, "positive"),
        (np.array([1, 2, -3, 5] * 30), {}, "positive"),
        (np.array([1.0, 2.5, 3.0] * 30), {}, "integers"),
        (np.array([1.0, np.inf, 3.0] * 30), {}, "integers"),
        (np.arange(1, 40), {}, "no candidate xmin"),
        (np.arange(1, 200), {"xmin": 190}, "at least 50 points"),
        (np.full(100, 7), {"xmin": 7}, "2 distinct values"),
        (np.ones((10, 10)), {}, "1-D"),
        (np.arange(1, 200), {"xmin": 0}, "xmin must be"),
        (np.arange(1, 200), {"min_tail": 1}, "min_tail"),
    ],
)
def test_fit_rejects_bad_input(data: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_discrete_power_law(data, **kwargs)


def test_tests_reject_a_fit_of_other_data() -> None:
    data = sample_discrete_power_law(2.0, 1, 500, np.random.default_rng(19))
    fit = fit_discrete_power_law(data)
    other = PowerLawFit(alpha=fit.alpha, xmin=fit.xmin, ks=fit.ks, n_tail=fit.n_tail + 1, n=fit.n,
                        log_likelihood=fit.log_likelihood)
    with pytest.raises(ValueError, match="not made from this data"):
        bootstrap_gof(data, other, n_boot=5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="not made from this data"):
        likelihood_ratio(data, other, "lognormal")
    with pytest.raises(ValueError, match="alternative"):
        likelihood_ratio(data, fit, "stretched_exponential")
    with pytest.raises(ValueError, match="alpha"):
        sample_discrete_power_law(1.0, 1, 10, np.random.default_rng(0))
