"""Rate matching: exactly k spikes, the k largest |z| with ties to the lower flat index, at every gain."""

from __future__ import annotations

import numpy as np
import pytest

from avalanche_llm.events import RateMatch, rate_matched_spikes, spike_mask


def reference_indices(abs_z: np.ndarray, k: int) -> np.ndarray:
    """The definition, by a full sort: descending value, then ascending flat index; first k, sorted."""
    flat = abs_z.ravel()
    order = np.lexsort((np.arange(flat.size), -flat.astype(np.float64)))
    return np.sort(order[:k])


@pytest.mark.parametrize(("shape", "rate"), [
    ((50, 7), 0.01), ((50, 7), 0.3), ((200, 31), 0.002), ((200, 31), 0.05), ((1000, 3), 0.5), ((64, 768), 0.002),
])
def test_exact_spike_count_and_the_k_largest(shape: tuple[int, int], rate: float) -> None:
    abs_z = np.abs(np.random.default_rng(3).standard_normal(shape)).astype(np.float32)
    match = rate_matched_spikes(abs_z, rate)
    k = round(rate * shape[0] * shape[1])
    assert match.k == k
    assert match.flat_indices.dtype == np.int64
    assert match.flat_indices.size == k
    assert np.all(np.diff(match.flat_indices) > 0)
    assert np.array_equal(match.flat_indices, reference_indices(abs_z, k))
    assert match.threshold == float(np.sort(abs_z.ravel())[::-1][k - 1])
    assert isinstance(match.threshold, float)


def test_ties_go_to_the_lower_flat_index() -> None:
    abs_z = np.array([[1.0, 2.0, 2.0],
                      [2.0, 0.0, 2.0]])
    match = rate_matched_spikes(abs_z, 0.5)
    assert (match.k, match.threshold) == (3, 2.0)
    assert match.flat_indices.tolist() == [1, 2, 3]
    assert spike_mask(abs_z, match.threshold).sum() == 4


def test_ties_across_a_large_block_of_equal_values() -> None:
    rng = np.random.default_rng(5)
    abs_z = rng.integers(0, 6, size=(300, 40)).astype(np.float32)
    for rate in (0.01, 0.1, 0.17, 0.4):
        match = rate_matched_spikes(abs_z, rate)
        assert np.array_equal(match.flat_indices, reference_indices(abs_z, match.k))
        flat = abs_z.ravel()
        chosen_ties = match.flat_indices[flat[match.flat_indices] == match.threshold]
        all_ties = np.flatnonzero(flat == match.threshold)
        assert chosen_ties.size < all_ties.size
        assert np.array_equal(chosen_ties, all_ties[:chosen_ties.size])


def test_every_layer_at_every_gain_gets_the_same_count() -> None:
    rng = np.random.default_rng(8)
    base = rng.standard_normal((500, 96))
    counts, fixed_threshold_counts = set(), set()
    for gain in (0.5, 1.0, 1.5, 3.0):
        for layer_scale in (0.7, 1.0, 2.2):
            abs_z = np.abs(gain * layer_scale * base + 0.3 * rng.standard_normal(base.shape)).astype(np.float32)
            match = rate_matched_spikes(abs_z, 0.002)
            counts.add(match.flat_indices.size)
            fixed_threshold_counts.add(int(spike_mask(abs_z, 3.0).sum()))
    assert counts == {96}
    assert len(fixed_threshold_counts) > 5


def test_a_power_of_two_scale_keeps_the_same_spikes() -> None:
    abs_z = np.abs(np.random.default_rng(9).standard_normal((120, 50))).astype(np.float32)
    match = rate_matched_spikes(abs_z, 0.02)
    scaled = rate_matched_spikes(abs_z * np.float32(4.0), 0.02)
    assert np.array_equal(match.flat_indices, scaled.flat_indices)
    assert scaled.threshold == 4.0 * match.threshold


def test_deterministic_to_the_byte() -> None:
    abs_z = np.round(np.abs(np.random.default_rng(4).standard_normal((400, 64))), 1).astype(np.float32)
    first, second = rate_matched_spikes(abs_z, 0.05), rate_matched_spikes(abs_z.copy(), 0.05)
    assert first.flat_indices.tobytes() == second.flat_indices.tobytes()
    assert (first.threshold, first.k) == (second.threshold, second.k)
    assert isinstance(first, RateMatch)


def test_threshold_mask_holds_the_spikes() -> None:
    abs_z = np.abs(np.random.default_rng(6).standard_normal((256, 32)))
    match = rate_matched_spikes(abs_z, 0.01)
    mask = spike_mask(abs_z, match.threshold)
    assert mask.dtype == np.bool_
    assert np.array_equal(np.flatnonzero(mask), match.flat_indices)


@pytest.mark.parametrize(("rate", "message"), [
    (0.0, r"target_rate must lie in \(0, 1\)"),
    (1.0, r"target_rate must lie in \(0, 1\)"),
    (-0.1, r"target_rate must lie in \(0, 1\)"),
    (1.5, r"target_rate must lie in \(0, 1\)"),
    (0.001, "asks for round"),
])
def test_bad_rates_raise(rate: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rate_matched_spikes(np.ones((10, 10)), rate)


def test_bad_arrays_raise() -> None:
    with pytest.raises(ValueError, match="2-D"):
        rate_matched_spikes(np.ones(100), 0.1)
    abs_z = np.ones((10, 10))
    abs_z[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rate_matched_spikes(abs_z, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        spike_mask(np.ones((2, 2)), float("nan"))
