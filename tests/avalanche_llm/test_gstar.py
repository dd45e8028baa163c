"""g*: the crossing of b_tot(g) with 1 among the gains whose fit passed its checks, its interval, and the
outcomes without a g*; end to end on planted branching processes, where noise must not become a g*."""

from __future__ import annotations

import numpy as np
import pytest

from avalanche_llm.analysis.gstar import gstar_label, is_gstar_gain, select_gstar
from avalanche_llm.metrics.branching import branching_estimates

from avalanche_llm.metrics.synthetic import binomial_subsample, driven_branching_process

GAINS = [0.5, 1.0, 1.5, 2.0]


def test_gstar_is_the_interpolated_crossing_with_its_interval() -> None:
    gstar = select_gstar(GAINS, [0.7, 0.9, 1.1, 1.3], [0.02, 0.02, 0.04, 0.02], ["ok"] * 4)
    assert gstar.outcome == "crossing" and gstar.gstar == pytest.approx(1.25)
    # delta method: d g*/d b_1 = -span (1 - b_2) / rise^2, d g*/d b_2 = -span (b_1 - 1) / rise^2 ... in magnitude
    expected = 0.5 * np.hypot(0.1 * 0.02, 0.1 * 0.04) / 0.2**2
    assert gstar.gstar_stderr == pytest.approx(expected)
    assert (gstar.gstar_low, gstar.gstar_high) == pytest.approx((1.25 - 1.96 * expected, 1.25 + 1.96 * expected))
    assert gstar.index == 1 and gstar.reference_gain == 1.0 and gstar.candidates == GAINS and gstar.excluded == []
    assert gstar.message.startswith("g* = 1.250 [")
    record = gstar.as_json()
    assert is_gstar_gain(record, 1.0) and not is_gstar_gain(record, 1.5)
    assert gstar_label(record).startswith("g* = 1.25 [")


def test_gstar_interval_matches_the_spread_of_crossings_of_noisy_sweeps() -> None:
    """The delta-method standard error is the spread of the crossing when each b_tot is drawn from its error."""
    b, se = np.array([0.8, 1.2]), np.array([0.03, 0.05])
    gstar = select_gstar([1.0, 2.0], list(b), list(se), ["ok", "ok"])
    draws = np.random.default_rng(0).normal(b, se, size=(20_000, 2))
    crossings = 1.0 + (1.0 - draws[:, 0]) / (draws[:, 1] - draws[:, 0])
    assert gstar.gstar_stderr == pytest.approx(np.std(crossings), rel=0.05)


def test_failed_fits_are_never_candidates() -> None:
    """The old rule took g = 1.5, whose b_tot 0.999 came from a fit at noise level; now it is left out and
    the crossing is interpolated between the gains that passed."""
    statuses = ["ok", "ok", "b_not_significant;no_decay", "ok"]
    gstar = select_gstar(GAINS, [0.7, 0.9, 0.999, 1.3], [0.02] * 4, statuses)
    assert gstar.outcome == "crossing" and gstar.gstar == pytest.approx(1.0 + 0.1 / 0.4 * 1.0)
    assert gstar.candidates == [0.5, 1.0, 2.0]
    assert gstar.excluded == [{"gain": 1.5, "fit_status": "b_not_significant;no_decay"}]
    assert "1 of 4 gains excluded" in gstar.message


def test_no_crossing_in_the_grid_is_an_outcome_not_a_number() -> None:
    gstar = select_gstar(GAINS, [0.2, 0.4, 0.6, 0.8], [0.01] * 4, ["ok"] * 4)
    assert gstar.outcome == "no_crossing" and gstar.gstar is None and gstar.gstar_low is None
    assert gstar.message.startswith("no g* in [0.5, 2]: b_tot is below 1 at every gain")
    assert gstar.index == 1 and gstar.reference_gain == 1.0  # the nulls go to the unmodified model
    assert not any(is_gstar_gain(gstar.as_json(), gain) for gain in GAINS)
    assert gstar_label(gstar.as_json()) == "no g* in [0.5, 2]"
    above = select_gstar(GAINS, [1.2, 1.3, 1.4, 1.45], [0.01] * 4, ["ok"] * 4)
    assert above.outcome == "no_crossing" and "above 1" in above.message


def test_no_valid_gain_is_an_outcome_that_names_every_failure() -> None:
    statuses = ["b_not_significant", "m_at_bound", "no_estimate", "offset_dominates;no_decay"]
    gstar = select_gstar(GAINS, [0.199, 1.0, float("nan"), 0.97], [0.5] * 4, statuses)
    assert gstar.outcome == "no_valid_gain" and gstar.gstar is None and gstar.candidates == []
    assert gstar.message.startswith("no g* in [0.5, 2]: no gain's fit passes its checks (g = 0.5: b_not_significant")
    assert gstar.as_json()["b_tot_stderr"] == 0.5 and gstar.as_json()["gstar"] is None


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="unknown g"):
        select_gstar(GAINS, [1.0] * 4, [0.1] * 4, ["ok"] * 4, method="nearest")
    with pytest.raises(ValueError, match="one length"):
        select_gstar(GAINS, [1.0] * 3, [0.1] * 4, ["ok"] * 4)


def _sweep(planted_m: list[float], spread: float, p: float, seed: int) -> list:
    """Total-activity estimates of one planted process per gain: 96 windows of 64 bins, as the quickstart."""
    rng = np.random.default_rng(seed)
    estimates = []
    for m in planted_m:
        activity, bounds = driven_branching_process(m, 10.0, 64, 96, rng, rate_spread=spread)
        estimates.append(branching_estimates(binomial_subsample(activity, p, rng) if p < 1 else activity, bounds, 8))
    return estimates


def _select(estimates: list):
    return select_gstar(GAINS, [e.m_mr for e in estimates], [e.m_mr_stderr for e in estimates],
                        [e.fit_status for e in estimates])


def test_planted_sweep_without_propagation_has_no_gstar() -> None:
    """m = 0 at every gain, window rates spread by 10 %, 10 % sampling: the fits without offset read m near 1
    here and the nearest-to-1 rule returned a g*; now no fit passes and there is no g*."""
    gstar = _select(_sweep([0.0] * 4, 0.1, 0.1, 5))
    assert gstar.outcome == "no_valid_gain" and gstar.gstar is None


def test_planted_subcritical_sweep_has_no_crossing() -> None:
    """m rising with gain but below 1 throughout, in the quickstart's window shape: no g* in the grid."""
    estimates = _sweep([0.3, 0.5, 0.7, 0.8], 0.1, 1.0, 6)
    assert all(e.fit_status == "ok" for e in estimates)
    assert [e.m_mr for e in estimates] == pytest.approx([0.3, 0.5, 0.7, 0.8], abs=0.08)
    gstar = _select(estimates)
    assert gstar.outcome == "no_crossing" and "below 1" in gstar.message
