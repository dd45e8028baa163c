"""The study config: load it, apply the CLI's overrides, resolve it through runlab, and read it as settings.

Resolution, canonical bytes and hashing are runlab's (``runlab.config``); this module adds the
study's schema, the mapping of CLI flags onto config keys, and typed settings for the phases.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from runlab import ConfigError, ResolvedConfig, apply_overrides, load_yaml_file, resolve_config_data

from .canon import load_canon, project_root

__all__ = ["CLI_OVERRIDES", "StudySettings", "load_study_config", "schema_path"]

# CLI flag -> the config key it sets (as ``runlab submit --set`` would); the flags therefore change the run
# ids of the stages that read those keys, like any other key.
CLI_OVERRIDES: Mapping[str, str] = {
    "device": "avalanche_llm.runtime.device",
    "dtype": "avalanche_llm.runtime.dtype",
    "gstar_method": "avalanche_llm.gain.gstar_method",
    "arc_config": "avalanche_llm.behaviour.arc.config",
    "arc_split": "avalanche_llm.behaviour.arc.split",
}


def schema_path() -> Path:
    return project_root() / "spec" / "avalanche_llm" / "config.schema.yaml"


def load_study_config(path: Path, overrides: Mapping[str, Any] | None = None) -> ResolvedConfig:
    """Load ``path``, set the overridden keys (``CLI_OVERRIDES`` flags), resolve CANON, validate."""
    raw = load_yaml_file(path, "config")
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} is not a mapping at the top level", "write key: value pairs")
    settings = [(CLI_OVERRIDES[flag], value) for flag, value in (overrides or {}).items()]
    schema = load_yaml_file(schema_path(), "config schema")
    return resolve_config_data(apply_overrides(raw, settings, f"config {path}"), load_canon(), schema, f"config {path}")


@dataclass(frozen=True)
class ModelSettings:
    hf_id: str
    revision: str | None
    batch_size: int


@dataclass(frozen=True)
class RuntimeSettings:
    device: str  # cpu | cuda
    dtype: str  # bf16 | fp16 | fp32


@dataclass(frozen=True)
class TextSettings:
    source: str
    text_column: str
    sequence_tokens: int
    baseline_sequences: int
    analysis_sequences: int
    seed: int


@dataclass(frozen=True)
class EventSettings:
    target_rate: float  # spikes per unit per token
    std_floor: float


@dataclass(frozen=True)
class GainSettings:
    values: tuple[float, ...]
    gstar_method: str


@dataclass(frozen=True)
class MetricSettings:
    mr_k_max: int
    min_tail: int
    n_boot: int
    cc_max_lag: int


@dataclass(frozen=True)
class ArcSettings:
    dataset: str
    config: str
    split: str
    revision: str | None
    max_items: int  # 0: every item
    batch_size: int


@dataclass(frozen=True)
class BehaviourSettings:
    arc: ArcSettings
    perplexity_batch_size: int


@dataclass(frozen=True)
class OutputNames:
    metrics: str
    table_t01: str
    fig_f03: str


def _part(name: str, settings: type) -> cached_property:
    """``settings(**section[name])``, read on first use."""
    part = cached_property(lambda self: settings(**self._section[name]))
    part.__doc__ = f"``avalanche_llm.{name}``"
    return part


class StudySettings:
    """The ``avalanche_llm`` section of a resolved (schema-checked) config, each part read on first use.

    A phase sees only the config keys its manifest stage ``reads:`` declares (``jobs/avalanche_llm.yaml``),
    so reading lazily lets each phase touch exactly the sections it uses: a change to another section
    leaves its run id alone.
    """

    def __init__(self, section: Mapping[str, Any]) -> None:
        self._section = section

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StudySettings:
        return cls(config["avalanche_llm"])

    model = _part("model", ModelSettings)
    runtime = _part("runtime", RuntimeSettings)
    text = _part("text", TextSettings)
    events = _part("events", EventSettings)
    metrics = _part("metrics", MetricSettings)
    outputs = _part("outputs", OutputNames)

    @cached_property
    def gain(self) -> GainSettings:
        gain = dict(self._section["gain"])
        return GainSettings(**{**gain, "values": tuple(float(value) for value in gain["values"])})

    @cached_property
    def behaviour(self) -> BehaviourSettings | None:
        """Phase 6 only; None when the config has no ``behaviour`` section."""
        if "behaviour" not in self._section:
            return None
        behaviour = self._section["behaviour"]
        return BehaviourSettings(ArcSettings(**behaviour["arc"]), behaviour["perplexity"]["batch_size"])

    @cached_property
    def statistics(self) -> tuple[int, float] | None:
        """Phase 7 only: ``(n_boot, confidence)``; None when the config has no ``statistics`` section."""
        if "statistics" not in self._section:
            return None
        return self._section["statistics"]["n_boot"], float(self._section["statistics"]["confidence"])

    def require_behaviour(self) -> BehaviourSettings:
        """The phase-6 settings; a config without them is exit 2."""
        if self.behaviour is None:
            raise ConfigError("the config has no avalanche_llm.behaviour section, which phase 6 needs",
                              "add behaviour: {arc: ..., perplexity: ...} as in configs/avalanche_llm/pipeline.yaml")
        return self.behaviour

    def require_statistics(self) -> tuple[int, float]:
        """Phase 7's (n_boot, confidence); a config without them is exit 2."""
        if self.statistics is None:
            raise ConfigError("the config has no avalanche_llm.statistics section, which phase 7 needs",
                              "add statistics: {n_boot: 200, confidence: 0.95} as in configs/avalanche_llm/pipeline.yaml")
        return self.statistics
