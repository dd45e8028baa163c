"""Safe YAML in and canonical YAML out.

Loading accepts plain data only: Python tags are refused by the safe constructor and a mapping that
repeats a key is an error rather than a silent overwrite. Dumping is canonical: UTF-8, LF line ends,
key order as written, floats by their shortest round-trip repr, so the same data gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["canonical_yaml_bytes", "load_yaml_file", "load_yaml_text"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _StrictLoader(_Loader):  # type: ignore[misc, valid-type]
    """Safe loader that rejects duplicate keys in any mapping."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text as plain data; ``source`` names it in errors."""
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_Loader)):
            raise ConfigError(f"{source}: YAML aliases (*name) are not accepted",
                              "write the value out; aliases hide what the config says and can expand without bound")
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{source}: invalid YAML: {detail}", "fix the file; only plain YAML data is accepted") from exc


def load_yaml_file(path: Path, what: str = "file") -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}", "check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}", "check the file") from exc
    return load_yaml_text(text, str(path))


def canonical_yaml_bytes(data: Any) -> bytes:
    """Serialize plain data to canonical YAML bytes (UTF-8, LF, key order kept, no aliases)."""
    text = yaml.dump(
        data,
        Dumper=_NoAliasDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
        line_break="\n",
    )
    return text.encode("utf-8")


class _NoAliasDumper(_Dumper):  # type: ignore[misc, valid-type]
    """Writes repeated objects out in full so the bytes depend on values only."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
