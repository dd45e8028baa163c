"""Corpus sources: the embedded default, a local ``.txt`` or ``.parquet`` file, or a parquet file on the hub.

A corpus is a list of documents (non-empty lines of a text file, or non-empty rows of a parquet
text column) and the sha256 of the file they came from, which the run record keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from runlab.errors import ConfigError
from runlab.store import sha256_file

__all__ = ["Corpus", "load_corpus"]

EMBEDDED_PREFIX = "embedded://"
HUB_PREFIX = "hf://datasets/"


@dataclass(frozen=True)
class Corpus:
    documents: tuple[str, ...]
    source: str  # as the config names it
    path: str  # the file read
    sha256: str


def load_corpus(source: str, text_column: str, revision: str | None = None) -> Corpus:
    """Read the documents of ``source`` (see the module docstring); a bad source is exit 2."""
    path = _local_file(source, revision)
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


def _local_file(source: str, revision: str | None) -> Path:
    if source.startswith(EMBEDDED_PREFIX):
        name = source[len(EMBEDDED_PREFIX) :]
        resource = resources.files(__package__) / name
        if "/" in name or not resource.is_file():
            raise ConfigError(f"no embedded corpus {name!r}", "the package ships default_corpus.txt")
        return Path(str(resource))
    if source.startswith(HUB_PREFIX):
        return _hub_file(source[len(HUB_PREFIX) :], revision)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ConfigError(f"corpus file {source} does not exist",
                          f"give a .txt/.parquet path, {EMBEDDED_PREFIX}<file> or {HUB_PREFIX}<org>/<name>/<file>")
    return path


def _hub_file(address: str, revision: str | None) -> Path:
    """``<org>/<name>/<path in the dataset repo>`` from the hub cache, downloading it if allowed."""
    parts = address.split("/", 2)
    if len(parts) != 3:
        raise ConfigError(f"hub corpus {HUB_PREFIX}{address} is not <org>/<name>/<file>", "fix the source")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id=f"{parts[0]}/{parts[1]}", filename=parts[2], repo_type="dataset",
                                    revision=revision))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ConfigError(f"hub corpus {HUB_PREFIX}{address} is not reachable or cached ({type(exc).__name__})",
                          "download it where the hub is reachable, or set text.source to a local copy") from exc


def _parquet_documents(path: Path, text_column: str) -> list[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if text_column not in table.column_names:
        raise ConfigError(f"corpus {path} has no column {text_column!r}", f"columns: {', '.join(table.column_names)}")
    return [text.strip() for text in table.column(text_column).to_pylist() if text and text.strip()]
