"""Study configs: load, resolve CANON references, serialize canonically, hash.

The resolved bytes are the identity of a config: the same YAML and registry always give the same
bytes and the same sha256, which is what run ids are computed from. A study without a registry has
plain YAML configs: a ``CANON.`` reference in one is an error, not a string.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .canon import CanonRegistry, first_reference
from .errors import ConfigError
from .schema import check_schema, validator_for
from .yamlio import canonical_yaml_bytes, load_yaml_file, load_yaml_text

__all__ = ["ResolvedConfig", "resolve_config", "resolve_config_data", "resolved_from_bytes"]


@dataclass(frozen=True)
class ResolvedConfig:
    """A config with every CANON reference replaced; ``yaml_bytes`` is its canonical form."""

    data: Mapping[str, Any]
    yaml_bytes: bytes
    sha256: str


def resolve_config(
    path: Path, registry: CanonRegistry | None, schema: Mapping[str, Any] | None = None
) -> ResolvedConfig:
    """Load ``path``, resolve it against ``registry`` (None: plain YAML), and validate it against a JSON Schema
    if given."""
    return resolve_config_data(load_yaml_file(path, "config"), registry, schema, f"config {path}")


def resolve_config_data(
    raw: Any, registry: CanonRegistry | None, schema: Mapping[str, Any] | None = None, source: str = "config"
) -> ResolvedConfig:
    """Resolve an already loaded config (e.g. one a study's CLI has overridden) like ``resolve_config``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} is not a mapping at the top level", "write key: value pairs")
    if registry is None:
        reference = first_reference(raw)
        if reference is not None:
            raise ConfigError(f"{source} refers to {reference}, but its study's manifest names no CANON registry",
                              "add canon: PATH (the registry's Markdown file) to the manifest, or write the value")
    data = copy.deepcopy(raw) if registry is None else registry.resolve(raw)
    if schema is not None:
        check_schema(data, validator_for(schema), source, ConfigError, "fix the config", by_hand=True)
    return _freeze(data)


def resolved_from_bytes(yaml_bytes: bytes, source: str) -> ResolvedConfig:
    """Rebuild a ResolvedConfig from stored canonical bytes (they must already be canonical)."""
    data = load_yaml_text(yaml_bytes.decode("utf-8"), source)
    resolved = _freeze(data)
    if resolved.yaml_bytes != yaml_bytes:
        raise ConfigError(f"{source} is not in canonical form", "it was edited by hand; restore it")
    return resolved


def _freeze(data: dict[str, Any]) -> ResolvedConfig:
    yaml_bytes = canonical_yaml_bytes(data)
    return ResolvedConfig(data=data, yaml_bytes=yaml_bytes, sha256=hashlib.sha256(yaml_bytes).hexdigest())

