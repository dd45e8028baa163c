"""Accuracy of repaired weights on a labelled split: confusion matrix, per-class table and figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .audit import definitional_scores
from .emnist import ClassMapping
from .table import FactTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["confusion_figure", "confusion_matrix", "per_class_table", "predict"]


def predict(table: FactTable, weights: np.ndarray) -> np.ndarray:
    """``(n,)`` int64 classes: the first maximum of each row's int64 scores (the seed's tie break)."""
    return np.argmax(definitional_scores(table, weights), axis=1)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts: row is the true class, column the predicted one."""
    return np.bincount(np.asarray(true) * n_classes + np.asarray(predicted),
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(np.int64)


def per_class_table(confusion: np.ndarray, mapping: ClassMapping) -> dict[str, list]:
    """One row per class: its character, test images, correct ones, accuracy and most frequent mistake."""
    support = confusion.sum(axis=1)
    correct = np.diag(confusion)
    mistakes = confusion - np.diag(correct)
    confused_with = np.argmax(mistakes, axis=1)
    return {
        "class": list(range(len(support))),
        "label": list(mapping.labels),
        "character": [chr(codepoint) for codepoint in mapping.codepoints],
        "support": support.tolist(),
        "correct": correct.tolist(),
        "accuracy": [float(c / s) if s else float("nan") for c, s in zip(correct, support)],
        "most_confused_with": [chr(mapping.codepoints[j]) if mistakes[i, j] else "" for i, j in enumerate(confused_with)],
        "most_confused_count": [int(mistakes[i, j]) for i, j in enumerate(confused_with)],
    }


def confusion_figure(confusion: np.ndarray, mapping: ClassMapping, title: str, *, cmap: str = "Blues",
                     annotate_max_classes: int = 20) -> "Figure":
    """Row-normalised confusion matrix as a heat map in ``cmap``, counts written in the cells when there are at
    most ``annotate_max_classes`` classes."""
    from matplotlib.figure import Figure

    n_classes = len(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = min(3 + 0.35 * n_classes, 14)
    figure = Figure(figsize=(size, size * 0.9))
    axes = figure.add_subplot()
    image = axes.imshow(rates, cmap=cmap, vmin=0.0, vmax=1.0)
    characters = [chr(codepoint) for codepoint in mapping.codepoints]
    axes.set_xticks(range(n_classes), characters)
    axes.set_yticks(range(n_classes), characters)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)
    if n_classes <= annotate_max_classes:
        for (i, j), count in np.ndenumerate(confusion):
            if count:
                axes.text(j, i, str(count), ha="center", va="center", fontsize=7,
                          color="white" if rates[i, j] > 0.5 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of true class")
    figure.tight_layout()
    return figure
