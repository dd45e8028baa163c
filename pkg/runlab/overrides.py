"""Config overrides and sweeps from the command line: ``--set key=value`` and ``--sweep key=v1,v2,…``.

Values are YAML (``3``, ``0.5``, ``true``, ``null``, ``[1, 2]``, ``CANON.X.Y``), set on the loaded config
before CANON references are resolved and the study's schema checks it, exactly as if the file said so.
A sweep is the cartesian product of its keys' values, in the order the keys were given.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, Iterable, Mapping, Sequence

import yaml

from .errors import ConfigError
from .yamlio import load_yaml_file

__all__ = ["apply_overrides", "load_sweep_file", "parse_assignment", "parse_sweep", "sweep_points"]

_HINT = "write key.sub=value, with a dotted key of the config"


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``: the value read as YAML."""
    key, value = _split(text, "--set")
    return key, _yaml_value(value, text)


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """``"a.b=1,2,3"`` -> ``("a.b", [1, 2, 3])``: the values read as one YAML flow sequence."""
    key, values = _split(text, "--sweep")
    parsed = _yaml_value(f"[{values}]", text)
    if not parsed:
        raise ConfigError(f"--sweep {text} names no values", "write key=v1,v2,...")
    return key, parsed


def load_sweep_file(path: Any) -> dict[str, list[Any]]:
    """A sweep file: a YAML mapping of dotted keys to lists of values."""
    data = load_yaml_file(path, "sweep file")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"sweep file {path} is not a mapping of keys to value lists", "write key: [v1, v2]")
    for key, values in data.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep file {path}: {key} is not a non-empty list", "write key: [v1, v2]")
        _check_key(str(key), f"sweep file {path}")
    return {str(key): values for key, values in data.items()}


def sweep_points(sweep: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the sweep's values, as override mappings (one empty mapping for no sweep)."""
    keys = list(sweep)
    return [dict(zip(keys, values)) for values in itertools.product(*(sweep[key] for key in keys))]


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[tuple[str, Any]], source: str) -> dict[str, Any]:
    """A copy of the loaded config ``raw`` with each dotted key set; intermediate mappings are created."""
    config = copy.deepcopy(dict(raw))
    for key, value in overrides:
        _check_key(key, source)
        node: Any = config
        *parents, leaf = key.split(".")
        for depth, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set {key} in {source}: {'.'.join(parents[: depth + 1])} is not a mapping",
                                  "override the whole value instead")
            node = child
        node[leaf] = copy.deepcopy(value)
    return config


def _split(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise ConfigError(f"{flag} {text!r} has no '='", _HINT)
    _check_key(key, flag)
    return key, value


def _check_key(key: str, source: str) -> None:
    parts = key.split(".")
    if not key or any(not part or not (part[0].isalpha() or part[0] == "_") for part in parts):
        raise ConfigError(f"{source}: {key!r} is not a dotted config key", _HINT)


def _yaml_value(text: str, whole: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(f"the value in {whole!r} is not YAML: {problem}", "quote strings that hold ':' or '#'") from exc
