"""Safe YAML in and canonical YAML out.

Loading accepts plain data only: Python tags are refused by the safe constructor and a mapping that
repeats a key is an error rather than a silent overwrite. Dumping is canonical: UTF-8, LF line ends,
key order as written, floats by their shortest round-trip repr, so the same data gives the same bytes.
Every input file (config, manifest, profile, sweep file, CANON registry) is read through
``read_input_text``: only a regular file, at most ``MAX_INPUT_BYTES``, so a FIFO cannot hang a command
and ``/dev/zero`` cannot exhaust its memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["MAX_INPUT_BYTES", "canonical_yaml_bytes", "load_yaml_file", "load_yaml_text", "read_input_text"]

MAX_INPUT_BYTES = 16 * 2**20  # 16 MiB: the largest config, manifest or registry here is under 100 kB

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


def read_input_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of the regular file ``path`` (links to one are followed), at most ``MAX_INPUT_BYTES``.

    Anything else (missing, a folder, a FIFO, a device, too large, not UTF-8) is a ConfigError line
    raised before more than ``MAX_INPUT_BYTES`` are read; a FIFO is opened without blocking.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}", "check the path") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}", "check the path and its permissions") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ConfigError(f"{what} {path} is {_kind(mode)}, not a regular file", f"give the path of a {what} file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}",
                              "check the file") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(f"{what} {path} is larger than {MAX_INPUT_BYTES // 2**20} MiB",
                          f"give a {what} file; inputs are small text files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                          "save the file as UTF-8") from exc


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def load_yaml_file(path: Path, what: str = "file") -> Any:
    """Read (``read_input_text``) and parse a YAML file; any failure is one ConfigError line."""
    return load_yaml_text(read_input_text(path, what), str(path))


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
