"""Data files named by the config: a file shipped in the package (``embedded://<file>``, from
``avalanche_llm/text/``), a local path, or a file of a dataset repository on the Hugging Face hub
(``hf://datasets/<org>/<name>/<path in the repo>``), fetched into the hub cache (offline: the cache only)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from runlab import ConfigError

__all__ = ["EMBEDDED_PREFIX", "HUB_PREFIX", "local_data_file"]

EMBEDDED_PREFIX = "embedded://"
HUB_PREFIX = "hf://datasets/"


def local_data_file(source: str, revision: str | None = None) -> Path:
    """The local file behind ``source``; a missing file or an unreachable, uncached hub file is exit 2."""
    if source.startswith(EMBEDDED_PREFIX):
        return _embedded_file(source[len(EMBEDDED_PREFIX) :])
    if source.startswith(HUB_PREFIX):
        return _hub_file(source[len(HUB_PREFIX) :], revision)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ConfigError(f"data file {source} does not exist",
                          f"give a local file or {HUB_PREFIX}<org>/<name>/<file>")
    return path


def _embedded_file(name: str) -> Path:
    resource = resources.files("avalanche_llm.text") / name
    if "/" in name or not resource.is_file():
        raise ConfigError(f"no embedded file {name!r}", "the package ships default_corpus.txt and arc_demo.jsonl")
    return Path(str(resource))


def _hub_file(address: str, revision: str | None) -> Path:
    parts = address.split("/", 2)
    if len(parts) != 3:
        raise ConfigError(f"hub file {HUB_PREFIX}{address} is not <org>/<name>/<file>", "fix the source")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id=f"{parts[0]}/{parts[1]}", filename=parts[2], repo_type="dataset",
                                    revision=revision))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ConfigError(f"hub file {HUB_PREFIX}{address} is not reachable or cached ({type(exc).__name__})",
                          "download it where the hub is reachable, or point the config at a local copy") from exc
