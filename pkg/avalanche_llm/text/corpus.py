"""Corpus sources: the embedded default, a local ``.txt`` or ``.parquet`` file, or a parquet file on the hub.

A corpus is a list of documents (non-empty lines of a text file, or non-empty rows of a parquet
text column) and the sha256 of the file they came from, which the run record keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runlab import ConfigError, sha256_file

from ..io.sources import HUB_PREFIX, local_data_file

__all__ = ["HUB_PREFIX", "Corpus", "load_corpus"]



@dataclass(frozen=True)
class Corpus:
    documents: tuple[str, ...]
    source: str  # as the config names it
    path: str  # the file read
    sha256: str


def load_corpus(source: str, text_column: str, revision: str | None = None) -> Corpus:
    """Read the documents of ``source`` (see the module docstring); a bad source is exit 2."""
    path = local_data_file(source, revision)
    if path.suffix == ".parquet":
        documents = _parquet_documents(path, text_column)
    elif path.suffix == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()
        documents = [line.strip() for line in lines if line.strip() and not line.startswith("# ")]
    else:
        raise ConfigError(f"corpus {source}: {path.name} is neither .txt nor .parquet", "convert it or pick another")
    if not documents:
        raise ConfigError(f"corpus {source} has no documents", "point avalanche_llm.text.source at a non-empty corpus")
    return Corpus(tuple(documents), source, str(path), sha256_file(path))


def _parquet_documents(path: Path, text_column: str) -> list[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if text_column not in table.column_names:
        raise ConfigError(f"corpus {path} has no column {text_column!r}", f"columns: {', '.join(table.column_names)}")
    return [text.strip() for text in table.column(text_column).to_pylist() if text and text.strip()]
