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


@dataclass(frozen=True)
class HuntSettings:
    """What a generation reads; the hunt's length (``irer.hunt.generations``) is the manifest's chain, not a setting
    of any generation, so a longer hunt reuses the generations it shares with a shorter one."""

    top_candidates: int
    lambda_falsifiability: float
    prior: Prior
    ga: GAConfig
    model: FieldModel
    grid: Grid
    stepping: TimeStepping
    validator: ValidatorSettings
    chunk_size: int | None
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
            prior=Prior.from_config(section["prior"]),
            ga=GAConfig.from_config({**section["ga"], "seed": seed}),
            model=_build(FieldModel, section, "model"),
            grid=_build(Grid, section, "grid"),
            stepping=_build(TimeStepping, section, "time"),
            validator=_build(ValidatorSettings, section, "validator"),
            chunk_size=execution.get("chunk_size"),
            device=execution["device"],
            precision=execution["precision"],
        )


def _build(settings_class: type, section: Mapping[str, Any], key: str) -> Any:
    """``settings_class(**section[key])`` with a wrong key or value as one ConfigError line."""
    try:
        return settings_class(**section.get(key, {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"irer.{key}: {exc}", "see spec/irer/ for the settings and their ranges") from exc
