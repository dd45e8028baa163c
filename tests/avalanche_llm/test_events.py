"""Baseline statistics streamed over batches, and the z-score built from them."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from avalanche_llm.events import BaselineStats, standardize


def baseline_tokens() -> np.ndarray:
    """(2000, 6) float32 tokens: large offsets, small spreads, one constant unit."""
    rng = np.random.default_rng(12)
    tokens = 1e3 * np.arange(6) + rng.standard_normal((2000, 6)) * np.array([1e-2, 1.0, 5.0, 0.3, 2.0, 1.0])
    tokens[:, 5] = 7.25
    return tokens.astype(np.float32)


def test_streaming_over_uneven_batches_matches_numpy() -> None:
    tokens = baseline_tokens()
    stats = BaselineStats.empty(6)
    edges = [0, 1, 8, 8, 311, 312, 1000, 1999, 2000]
    for start, stop in zip(edges[:-1], edges[1:]):
        stats.update(tokens[start:stop])
    reference = tokens.astype(np.float64)
    assert stats.count == 2000
    np.testing.assert_allclose(stats.mean, reference.mean(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(stats.std[:5], reference.std(axis=0)[:5], rtol=1e-12, atol=0)
    assert stats.std[5] == 0.0
    assert stats.mean.dtype == stats.m2.dtype == np.float64


def test_one_batch_equals_many() -> None:
    tokens = baseline_tokens()
    whole, parts = BaselineStats.empty(6), BaselineStats.empty(6)
    whole.update(tokens)
    for batch in np.array_split(tokens, 13):
        parts.update(batch)
    np.testing.assert_allclose(parts.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(parts.m2[:5], whole.m2[:5], rtol=1e-11)


def test_arrays_round_trip_through_hdf5(tmp_path) -> None:
    stats = BaselineStats.empty(6)
    stats.update(baseline_tokens())
    with h5py.File(tmp_path / "baseline_stats.h5", "w") as file:
        for name, array in stats.to_arrays().items():
            file.create_dataset(name, data=array)
    with h5py.File(tmp_path / "baseline_stats.h5", "r") as file:
        loaded = BaselineStats.from_arrays(file)
    assert loaded.count == 2000
    assert loaded.mean.tobytes() == stats.mean.tobytes()
    assert loaded.m2.tobytes() == stats.m2.tobytes()
    with pytest.raises(ValueError, match=r"lack the datasets \['m2'\]"):
        BaselineStats.from_arrays({"count": np.array(3), "mean": np.zeros(6)})


def test_bad_statistics_raise() -> None:
    with pytest.raises(ValueError, match="seen no tokens"):
        _ = BaselineStats.empty(4).std
    with pytest.raises(ValueError, match=r"\(tokens, 4\)"):
        BaselineStats.empty(4).update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        BaselineStats.empty(0)
    with pytest.raises(ValueError, match="one shape"):
        BaselineStats(3, np.zeros(4), np.zeros(5))


def test_standardize_uses_the_population_std_and_the_floor() -> None:
    stats = BaselineStats.empty(6)
    stats.update(baseline_tokens())
    rng = np.random.default_rng(13)
    u = (1e3 * np.arange(6) + rng.standard_normal((9000, 6))).astype(np.float32)
    u[:4, 5] = [7.25, 8.25, 6.25, 7.25]
    z = standardize(u, stats, std_floor=0.5)
    assert z.dtype == np.float32 and z.shape == (9000, 6)
    expected = (u.astype(np.float64) - stats.mean) / np.maximum(stats.std, 0.5)
    assert z.tobytes() == expected.astype(np.float32).tobytes()
    assert z[:4, 5].tolist() == [0.0, 2.0, -2.0, 0.0]
    with pytest.raises(ValueError, match="std_floor must be finite and > 0"):
        standardize(u, stats, std_floor=0.0)
    with pytest.raises(ValueError, match=r"\(tokens, 6\)"):
        standardize(u[:, :5], stats, std_floor=1e-6)
