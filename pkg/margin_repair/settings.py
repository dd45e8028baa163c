"""The study's settings, read from the ``margin_repair`` section of a resolved config.

Types, ranges and unknown keys are checked by ``spec/margin_repair/config.schema.yaml`` when the
config is resolved; this module turns the section into a typed object and states the seed's
``cfg_hash`` over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .features import hash_obj
from .repair import RepairKnobs

__all__ = ["DataSource", "StudySettings"]


@dataclass(frozen=True)
class DataSource:
    """``emnist`` (found via ``data_dir``, ``$EMNIST_DATA_DIR`` or a ``gzip/`` folder above the working
    directory) or ``synthetic`` (written by the DATA stage, ``n_train``/``n_test`` images from ``seed``)."""

    kind: str
    data_dir: str | None = None
    n_train: int = 0
    n_test: int = 0
    seed: int = 0


@dataclass(frozen=True)
class StudySettings:
    source: DataSource
    split: str
    run_mode: str
    canonicalize: bool
    bin_threshold: int
    max_train: int
    max_test: int
    finite_n: int
    cap_unary: int
    margin: int
    overshoot_delta: int
    max_epochs: int
    max_updates: int
    probe_per_class: int
    seed: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "StudySettings":
        section = dict(config["margin_repair"])
        data = dict(section.pop("data"))
        source = DataSource(kind=data.pop("source"), data_dir=data.pop("data_dir", None), **data.pop("synthetic", {}))
        return cls(source=source, seed=int(config.get("determinism", {}).get("seed", 0)), **section)

    @property
    def knobs(self) -> RepairKnobs:
        return RepairKnobs(margin=self.margin, overshoot_delta=self.overshoot_delta, max_epochs=self.max_epochs,
                           max_updates=self.max_updates)

    def cfg_hash(self) -> str:
        """The seed's ``cfg_hash``: its run config fields, by the seed's names."""
        return hash_obj({
            "seed": self.seed, "run_mode": self.run_mode, "split": self.split, "canonicalize": self.canonicalize,
            "bin_threshold": self.bin_threshold, "finite_n": self.finite_n, "cap_unary": self.cap_unary,
            "margin": self.margin, "overshoot_delta": self.overshoot_delta, "max_epochs": self.max_epochs,
            "max_updates": self.max_updates, "probe_per_class": self.probe_per_class,
        })
