"""The CANON registry: canonical names and values kept in a Markdown document.

The registry lives in fenced code blocks whose info string is ``yaml canon`` inside a Markdown file
(``spec/00_CANONICAL.md``), so that prose and values sit together. Blocks are merged; a top-level key
defined twice is an error. A config refers to a value as ``CANON.SECTION.NAME``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .yamlio import load_yaml_text, read_input_text

__all__ = ["CANON_PREFIX", "CanonRegistry", "first_reference", "load_registry"]

CANON_PREFIX = "CANON."
_BLOCK_RE = re.compile(r"^```yaml canon[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MAX_DEPTH = 32


@dataclass(frozen=True)
class CanonRegistry:
    """Parsed registry: nested mapping of canonical values, and the file it came from."""

    values: Mapping[str, Any]
    source: Path

    def lookup(self, reference: str) -> Any:
        """Value of ``CANON.A.B``, with CANON references inside it resolved; unknown -> ConfigError."""
        return self._lookup(reference, ())

    def _lookup(self, reference: str, chain: tuple[str, ...]) -> Any:
        if reference in chain:
            cycle = " -> ".join((*chain, reference))
            raise ConfigError(f"CANON reference cycle: {cycle}", f"fix the registry {self.source}")
        if len(chain) >= _MAX_DEPTH:
            raise ConfigError(f"CANON references nest deeper than {_MAX_DEPTH}: {reference}", f"fix {self.source}")
        node: Any = self.values
        for part in reference[len(CANON_PREFIX) :].split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(
                    f"unknown CANON reference {reference}",
                    f"define it in {self.source} or correct the name",
                )
            node = node[part]
        return self.resolve(node, (*chain, reference))

    def resolve(self, node: Any, chain: tuple[str, ...] = ()) -> Any:
        """Copy of ``node`` with every scalar string that begins with ``CANON.`` replaced by its value."""
        if isinstance(node, str) and node.startswith(CANON_PREFIX):
            return self._lookup(node, chain)
        if isinstance(node, Mapping):
            return {key: self.resolve(value, chain) for key, value in node.items()}
        if isinstance(node, list):
            return [self.resolve(item, chain) for item in node]
        return node


def first_reference(node: Any) -> str | None:
    """The first ``CANON.`` reference in ``node`` (a config's data, depth first), or None."""
    if isinstance(node, str):
        return node if node.startswith(CANON_PREFIX) else None
    children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else ()
    return next((found for child in children if (found := first_reference(child)) is not None), None)


def load_registry(path: Path) -> CanonRegistry:
    """Read every ``yaml canon`` block of a Markdown file into one registry."""
    text = read_input_text(path, "CANON registry")
    blocks = _BLOCK_RE.findall(text)
    if not blocks:
        raise ConfigError(f"CANON registry {path} has no ```yaml canon block", "add the registry block")
    merged: dict[str, Any] = {}
    for number, block in enumerate(blocks, start=1):
        data = load_yaml_text(block, f"{path} (canon block {number})")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: canon block {number} is not a mapping", "write NAME: value pairs")
        for key, value in data.items():
            if key in merged:
                raise ConfigError(f"{path}: CANON key {key} defined in two blocks", "keep one definition")
            merged[key] = value
    return CanonRegistry(values=merged, source=Path(path))
