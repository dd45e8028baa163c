"""The repair's inputs as the seed draws them: the finite witness table and the balanced probe set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runlab import ConfigError

from .emnist import ClassMapping, load_dataset
from .settings import StudySettings
from .table import FactTable, build_fact_table, probe_indices

__all__ = ["RepairInputs", "finite_table", "repair_inputs"]


@dataclass(frozen=True)
class RepairInputs:
    table: FactTable  # the first finite_n train images
    labels: np.ndarray  # (finite_n,) int64 classes
    probe: FactTable  # the first probe_per_class test images of each class
    probe_labels: np.ndarray
    mapping: ClassMapping

    @property
    def n_classes(self) -> int:
        return len(self.mapping.labels)


def finite_table(folder: Path, settings: StudySettings) -> tuple[FactTable, np.ndarray, ClassMapping]:
    """Facts and classes of the first ``finite_n`` mapped train images (within ``max_train``)."""
    cap = settings.finite_n if not settings.max_train else min(settings.finite_n, settings.max_train)
    train = load_dataset(folder, settings.split, part="train", cap=cap, upright=settings.canonicalize)
    if len(train.classes) < settings.finite_n:
        raise ConfigError(f"the {settings.split} train split yields {len(train.classes)} images "
                          f"(max_train {settings.max_train}), fewer than finite_n {settings.finite_n}",
                          "lower finite_n or raise max_train")
    table = build_fact_table(train.images, bin_threshold=settings.bin_threshold, cap_unary=settings.cap_unary)
    return table, train.classes, train.mapping


def repair_inputs(folder: Path, settings: StudySettings) -> RepairInputs:
    table, labels, mapping = finite_table(folder, settings)
    test = load_dataset(folder, settings.split, part="test", cap=settings.max_test, upright=settings.canonicalize)
    chosen = probe_indices(test.classes, len(mapping.labels), settings.probe_per_class)
    probe = build_fact_table(test.images[chosen], bin_threshold=settings.bin_threshold, cap_unary=settings.cap_unary)
    return RepairInputs(table=table, labels=labels, probe=probe, probe_labels=test.classes[chosen], mapping=mapping)
