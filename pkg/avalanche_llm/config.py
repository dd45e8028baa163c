"""The study config: load it, apply the CLI's overrides, resolve it through runlab, and read it as settings.

Resolution, canonical bytes and hashing are runlab's (``runlab.config``); this module adds the
study's schema, the mapping of CLI flags onto config keys, and typed settings for the phases.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from runlab.config import ResolvedConfig, resolve_config_data
from runlab.errors import ConfigError
from runlab.yamlio import load_yaml_file

from .canon import load_canon, project_root

__all__ = ["CLI_OVERRIDES", "StudySettings", "load_study_config", "schema_path"]

# CLI flag -> the config key it sets; the flags therefore change the run ids, like any other key.
CLI_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "device": ("avalanche_llm", "runtime", "device"),
    "dtype": ("avalanche_llm", "runtime", "dtype"),
    "gstar_method": ("avalanche_llm", "gain", "gstar_method"),
    "arc_config": ("avalanche_llm", "behaviour", "arc", "config"),
    "arc_split": ("avalanche_llm", "behaviour", "arc", "split"),
}


def schema_path() -> Path:
    return project_root() / "spec" / "avalanche_llm" / "config.schema.yaml"


def load_study_config(path: Path, overrides: Mapping[str, Any] | None = None) -> ResolvedConfig:
    """Load ``path``, set the overridden keys (``CLI_OVERRIDES`` names), resolve CANON, validate."""
    raw = copy.deepcopy(load_yaml_file(path, "config"))
    for flag, value in (overrides or {}).items():
        node = raw
        *parents, leaf = CLI_OVERRIDES[flag]
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node
        if isinstance(node, dict):
            node[leaf] = value
    schema = load_yaml_file(schema_path(), "config schema")
    return resolve_config_data(raw, load_canon(), schema, f"config {path}")


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


@dataclass(frozen=True)
class StudySettings:
    """The ``avalanche_llm`` section of a resolved (schema-checked) config."""

    model: ModelSettings
    runtime: RuntimeSettings
    text: TextSettings
    events: EventSettings
    gain: GainSettings
    metrics: MetricSettings
    outputs: OutputNames
    behaviour: BehaviourSettings | None  # phase 6 only
    statistics: tuple[int, float] | None  # phase 7 only: (n_boot, confidence)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StudySettings:
        section = config["avalanche_llm"]
        gain = dict(section["gain"])
        gain["values"] = tuple(float(value) for value in gain["values"])
        return cls(
            model=ModelSettings(**section["model"]),
            runtime=RuntimeSettings(**section["runtime"]),
            text=TextSettings(**section["text"]),
            events=EventSettings(**section["events"]),
            gain=GainSettings(**gain),
            metrics=MetricSettings(**section["metrics"]),
            outputs=OutputNames(**section["outputs"]),
            behaviour=(BehaviourSettings(ArcSettings(**section["behaviour"]["arc"]),
                                         section["behaviour"]["perplexity"]["batch_size"])
                       if "behaviour" in section else None),
            statistics=((section["statistics"]["n_boot"], float(section["statistics"]["confidence"]))
                        if "statistics" in section else None),
        )

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
