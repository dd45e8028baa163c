"""Where this study's CANON registry, manifest and default config live, and the phase commands it names.

The registry is runlab's (``spec/00_CANONICAL.md``); this module only locates it and reads the
``CLI`` section, whose command strings are the single source of the phase subcommands and their
defaults.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from runlab import CanonRegistry, ConfigError, load_registry

__all__ = ["STUDY", "PhaseCommand", "load_canon", "phase_commands", "project_root"]

STUDY = "avalanche_llm"
_MANIFEST = Path("jobs") / "avalanche_llm.yaml"
_CANON = Path("spec") / "00_CANONICAL.md"


def project_root() -> Path:
    """The checkout this package runs from: the working directory if it holds the study's manifest,
    else the folder two levels above the package (an editable install or a container's /opt copy)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / _MANIFEST).is_file() and (candidate / _CANON).is_file():
            return candidate
    raise ConfigError(f"cannot find {_MANIFEST} and {_CANON}", "run from the project's checkout")


def manifest_path() -> Path:
    return project_root() / _MANIFEST


def load_canon() -> CanonRegistry:
    return load_registry(project_root() / _CANON)


@dataclass(frozen=True)
class PhaseCommand:
    """One ``CANON.CLI.CMD`` entry: the subcommand name and its option defaults (``--flag value``)."""

    key: str
    name: str
    defaults: Mapping[str, str]


def phase_commands(registry: CanonRegistry) -> list[PhaseCommand]:
    """Parse every ``CANON.CLI.CMD`` string; each must start with ``CANON.CLI.ENTRYPOINT``."""
    entrypoint = shlex.split(str(registry.lookup("CANON.CLI.ENTRYPOINT")))
    commands = []
    for key, text in registry.lookup("CANON.CLI.CMD").items():
        words = shlex.split(str(text))
        if words[: len(entrypoint)] != entrypoint or len(words) <= len(entrypoint):
            raise ConfigError(f"CANON.CLI.CMD.{key} does not start with {' '.join(entrypoint)} <phase>",
                              f"fix {registry.source}")
        name, options = words[len(entrypoint)], words[len(entrypoint) + 1 :]
        if len(options) % 2 or not all(flag.startswith("--") for flag in options[::2]):
            raise ConfigError(f"CANON.CLI.CMD.{key} is not a list of '--flag value' pairs", f"fix {registry.source}")
        commands.append(PhaseCommand(key, name, dict(zip((flag[2:] for flag in options[::2]), options[1::2]))))
    return commands
