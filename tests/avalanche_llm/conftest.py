"""Fixtures for avalanche_llm: a tiny causal model saved to disk, and small study configs around it.

The tiny model is a real GPT-2 (3 blocks, hidden 32, random weights from a fixed seed) with a real
byte-level BPE tokenizer trained on the embedded corpus (``avalanche_llm.model.random_model``), saved
with ``save_pretrained`` and loaded by the study's own loader, as a local ``model.hf_id`` folder is.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.arc import arc_records, write_parquet



@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avalanche_llm.model.random_model import build_random_gpt2

    return build_random_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), layers=3, hidden=32, heads=2, vocab=600,
                             positions=64, seed=0)


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
