"""Data files named by the config: a local path, or a file of a dataset repository on the Hugging Face hub
(``hf://datasets/<org>/<name>/<path in the repo>``), fetched into the hub cache (offline: the cache only)."""

from __future__ import annotations

from pathlib import Path

from runlab.errors import ConfigError

__all__ = ["HUB_PREFIX", "local_data_file"]

HUB_PREFIX = "hf://datasets/"


def local_data_file(source: str, revision: str | None = None) -> Path:
    """The local file behind ``source``; a missing file or an unreachable, uncached hub file is exit 2."""
    if source.startswith(HUB_PREFIX):
        return _hub_file(source[len(HUB_PREFIX) :], revision)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ConfigError(f"data file {source} does not exist",
                          f"give a local file or {HUB_PREFIX}<org>/<name>/<file>")
    return path


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
