"""Fixtures for avalanche_llm: a tiny causal model saved to disk, and small study configs around it.

The tiny model is a real GPT-2 (3 blocks, hidden 32, random weights from a fixed seed) with a real
byte-level BPE tokenizer trained on the embedded corpus, saved with ``save_pretrained`` and loaded by
the study's own loader, exactly as a local ``model.hf_id`` folder is on a cluster.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from .arc_fixture import arc_records, write_parquet

REPO = Path(__file__).resolve().parents[2]
EMBEDDED_CORPUS = Path(str(resources.files("avalanche_llm.text") / "default_corpus.txt"))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    lines = [line for line in EMBEDDED_CORPUS.read_text().splitlines() if line and not line.startswith("# ")]
    bpe.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    eos = bpe.token_to_id("<|endoftext|>")
    config = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=64, n_embd=32, n_layer=3, n_head=2,
                        bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


TINY_STUDY: dict[str, Any] = {
    "avalanche_llm": {
        "model": {"hf_id": None, "revision": None, "batch_size": 8},
        "runtime": {"device": "cpu", "dtype": "fp32"},
        "text": {"source": "CANON.DATASET.LM_CORPUS.EMBEDDED", "text_column": "text", "sequence_tokens": 16,
                 "baseline_sequences": 4, "analysis_sequences": 24, "seed": 0},
        "events": {"target_rate": 0.03, "std_floor": 1.0e-6},
        "gain": {"values": [0.5, 1.0, 2.0], "gstar_method": "btot_near_one"},
        "metrics": {"mr_k_max": 4, "min_tail": 8, "n_boot": 4, "cc_max_lag": 2},
        "behaviour": {"arc": {"dataset": None, "config": "ARC-Challenge", "split": "test", "revision": None,
                              "max_items": 0, "batch_size": 8},
                      "perplexity": {"batch_size": 8}},
        "statistics": {"n_boot": 40, "confidence": 0.9},
        "outputs": {"metrics": "CANON.OUTPUT.RESULTS_METRICS", "table_t01": "CANON.OUTPUT.TABLE_T01_SUMMARY",
                    "fig_f03": "CANON.OUTPUT.FIG_F03_BRANCHING_CURVES"},
    },
    "determinism": {"seed": 0},
}


@pytest.fixture(scope="session")
def arc_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of an ARC-format dataset in the hub's layout: <folder>/ARC-Challenge/test-00000-of-00001.parquet."""
    folder = tmp_path_factory.mktemp("arc")
    (folder / "ARC-Challenge").mkdir()
    write_parquet(folder / "ARC-Challenge" / "test-00000-of-00001.parquet", arc_records())
    return folder


def tiny_study(tiny_gpt2: Path, arc_folder: Path) -> dict[str, Any]:
    """TINY_STUDY for the tiny GPT-2 and the ARC fixture folder."""
    config = copy.deepcopy(TINY_STUDY)
    config["avalanche_llm"]["model"]["hf_id"] = str(tiny_gpt2)
    config["avalanche_llm"]["behaviour"]["arc"]["dataset"] = str(arc_folder)
    return config


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_gpt2: Path, arc_folder: Path):
    """``tiny_config(**changes)`` writes a study config for the tiny model; ``changes`` are
    ``section=value`` updates of the ``avalanche_llm`` mapping (e.g. ``gain={...}``)."""

    def write(name: str = "tiny.yaml", **changes: Any) -> Path:
        config = tiny_study(tiny_gpt2, arc_folder)
        for section, value in changes.items():
            config["avalanche_llm"][section] = {**config["avalanche_llm"][section], **value}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write
