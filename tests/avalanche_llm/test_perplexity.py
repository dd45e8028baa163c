"""Perplexity (S06B's measure) against the model's own language-modelling loss, on the tiny GPT-2."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from avalanche_llm.behaviour.perplexity import WindowLoss, perplexity, window_losses
from avalanche_llm.config import ModelSettings, RuntimeSettings
from avalanche_llm.model.gain import apply_gain
from avalanche_llm.model.loader import load_model


@pytest.fixture(scope="module")
def tiny(tiny_gpt2: Path):
    return load_model(ModelSettings(str(tiny_gpt2), None, 4), RuntimeSettings("cpu", "fp32"))


def test_window_nll_is_the_models_own_shifted_cross_entropy(tiny) -> None:
    windows = np.random.default_rng(0).integers(0, 500, size=(5, 12), dtype=np.int64)
    losses = window_losses(tiny, windows, batch_size=2)
    assert [loss.window for loss in losses] == list(range(5)) and {loss.n_predicted for loss in losses} == {11}
    for loss, window in zip(losses, windows):
        ids = torch.as_tensor(window[None])
        with torch.inference_mode():
            mean_ce = tiny.model(input_ids=ids, labels=ids).loss  # HF: mean over the 11 shifted targets
        assert loss.nll_sum == pytest.approx(float(mean_ce) * 11, rel=1e-5)
    one_batch = window_losses(tiny, windows, batch_size=5)
    assert all(a.nll_sum == pytest.approx(b.nll_sum, rel=1e-6) for a, b in zip(one_batch, losses))
    with apply_gain(tiny.model, tiny.architecture, 3.0):
        louder = window_losses(tiny, windows, batch_size=2)
    assert all(a.nll_sum != b.nll_sum for a, b in zip(louder, losses))


def test_perplexity_is_exp_of_the_token_weighted_mean_nll() -> None:
    mean, ppl = perplexity([WindowLoss(0, 10, 20.0), WindowLoss(1, 30, 30.0)])
    assert mean == pytest.approx(50.0 / 40) and ppl == pytest.approx(math.exp(1.25))
    with pytest.raises(ValueError, match="no predicted tokens"):
        perplexity([])
