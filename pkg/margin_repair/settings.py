"""The study's settings, read from the ``margin_repair`` section of a resolved config.

Types, ranges and unknown keys are checked by ``spec/margin_repair/config.schema.yaml`` when the
config is resolved; this module reads the section as typed settings and states the seed's
``cfg_hash`` over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .features import hash_obj
from .repair import RepairKnobs

__all__ = ["DataSource", "EvaluationSettings", "StudySettings"]


@dataclass(frozen=True)
class EvaluationSettings:
    """EVAL's confusion figure: its colour map, and up to how many classes the counts are written in the cells."""

    cmap: str = "Blues"
    annotate_max_classes: int = 20


@dataclass(frozen=True)
class DataSource:
    """``emnist`` (found via ``data_dir``, ``$EMNIST_DATA_DIR`` or a ``gzip/`` folder above the working
    directory) or ``synthetic`` (written by the DATA stage, ``n_train``/``n_test`` images from ``seed``)."""

    kind: str
    data_dir: str | None = None
    n_train: int = 0
    n_test: int = 0
    seed: int = 0


def _setting(name: str, kind: type) -> property:
    return property(lambda self: kind(self._section[name]), doc=f"``margin_repair.{name}``")


class StudySettings:
    """The ``margin_repair`` section of a config, each setting read when it is first used.

    A stage sees only the config keys its manifest ``reads:`` declares, so reading lazily lets each stage
    touch exactly the settings it uses (DATA the data source and split; EVAL the test-side knobs and
    ``evaluation``), and a change to any other key leaves its run id alone.
    """

    def __init__(self, section: Mapping[str, Any], determinism: Mapping[str, Any] | None = None) -> None:
        self._section = section
        self._determinism = determinism if determinism is not None else {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "StudySettings":
        return cls(config["margin_repair"], config.get("determinism", {}))

    @classmethod
    def of(cls, *, source: DataSource, seed: int = 0, **values: Any) -> "StudySettings":
        """Settings given directly (tests, benchmarks): the section's keys as keyword arguments."""
        data = {"source": source.kind, "data_dir": source.data_dir}
        if source.kind == "synthetic":
            data["synthetic"] = {"n_train": source.n_train, "n_test": source.n_test, "seed": source.seed}
        return cls({"data": data, **values}, {"seed": seed})

    def replace(self, **values: Any) -> "StudySettings":
        """A copy with section keys (and ``seed``, which is ``determinism.seed``) changed."""
        determinism = {**self._determinism, "seed": values.pop("seed")} if "seed" in values else self._determinism
        return StudySettings({**self._section, **values}, determinism)

    split = _setting("split", str)
    run_mode = _setting("run_mode", str)
    canonicalize = _setting("canonicalize", bool)
    bin_threshold = _setting("bin_threshold", int)
    max_train = _setting("max_train", int)
    max_test = _setting("max_test", int)
    finite_n = _setting("finite_n", int)
    cap_unary = _setting("cap_unary", int)
    margin = _setting("margin", int)
    overshoot_delta = _setting("overshoot_delta", int)
    max_epochs = _setting("max_epochs", int)
    max_updates = _setting("max_updates", int)
    probe_per_class = _setting("probe_per_class", int)

    @property
    def seed(self) -> int:
        """``determinism.seed``."""
        return int(self._determinism.get("seed", 0))

    @property
    def source(self) -> DataSource:
        """``margin_repair.data``."""
        data = self._section["data"]
        return DataSource(kind=data["source"], data_dir=data.get("data_dir"), **dict(data.get("synthetic", {})))

    @property
    def evaluation(self) -> EvaluationSettings:
        """``margin_repair.evaluation`` (EVAL's figure); defaults where the config has none."""
        return EvaluationSettings(**dict(self._section.get("evaluation", {})))

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
