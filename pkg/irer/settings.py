"""The hunt's settings, read from the ``irer`` section of a resolved config.

Each part is the validated dataclass of the module that uses it (``FieldModel``, ``Grid`` and
``TimeStepping`` of the solver, ``Prior`` and ``GAConfig`` of the hunter, ``ValidatorSettings``);
this module only assembles them and names the config keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from runlab import ConfigError

from .hunter import GAConfig, Prior
from .model import FieldModel, Grid, TimeStepping
from .validator import ValidatorSettings

__all__ = ["HuntSettings"]

PRECISIONS = ("float32", "float64")
DEFAULT_INITIAL_FIELDS = 8


@dataclass(frozen=True)
class HuntSettings:
    """What a generation reads; the hunt's length (``irer.hunt.generations``) is the manifest's chain, not a setting
    of any generation, so a longer hunt reuses the generations it shares with a shorter one."""

    top_candidates: int
    lambda_falsifiability: float
    initial_fields: int  # K: every candidate is integrated from the hunt's same K initial fields
    prior: Prior
    ga: GAConfig
    model: FieldModel
    grid: Grid
    stepping: TimeStepping
    validator: ValidatorSettings
    chunk_size: int | str | None  # candidates per compiled call; None: all; "auto": sized from device memory
    device: str
    precision: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "HuntSettings":
        """Settings of ``config["irer"]``; the GA's seed is the config's ``determinism.seed``."""
        section = config["irer"]
        hunt, execution = section["hunt"], section["execution"]
        seed = int(config.get("determinism", {}).get("seed", 0))
        if execution["precision"] not in PRECISIONS:
            raise ConfigError(f"irer.execution.precision {execution['precision']!r} is not one of {PRECISIONS}",
                              "use float32 (GPU speed) or float64 (needs jax_enable_x64)")
        return cls(
            top_candidates=int(hunt["top_candidates"]),
            lambda_falsifiability=float(hunt["lambda_falsifiability"]),
            initial_fields=_initial_fields(hunt),
            prior=Prior.from_config(section["prior"]),
            ga=GAConfig.from_config({**section["ga"], "seed": seed}),
            model=_build(FieldModel, section, "model"),
            grid=_build(Grid, section, "grid"),
            stepping=_build(TimeStepping, section, "time"),
            validator=_build(ValidatorSettings, section, "validator"),
            chunk_size=_chunk_size(execution.get("chunk_size")),
            device=execution["device"],
            precision=execution["precision"],
        )


def _chunk_size(value: Any) -> int | str | None:
    """``irer.execution.chunk_size``: a whole number >= 1, ``auto`` or null."""
    if value is None or value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ConfigError(f"irer.execution.chunk_size is {value!r}", "use a whole number >= 1, auto, or null")


def _initial_fields(hunt: Mapping[str, Any]) -> int:
    """``irer.hunt.initial_fields``, a whole number >= 1 (spec/irer/hunter.md says why 8 is the default)."""
    value = hunt.get("initial_fields", DEFAULT_INITIAL_FIELDS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"irer.hunt.initial_fields is {value!r}", "set it to a whole number >= 1, e.g. 8")
    return value


def _build(settings_class: type, section: Mapping[str, Any], key: str) -> Any:
    """``settings_class(**section[key])`` with a wrong key or value as one ConfigError line."""
    try:
        return settings_class(**section.get(key, {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"irer.{key}: {exc}", "see spec/irer/ for the settings and their ranges") from exc
