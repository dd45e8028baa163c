"""Predictions, confusion matrix and the per-class table on hand-made weights."""

from __future__ import annotations

import numpy as np

from margin_repair.emnist import ClassMapping
from margin_repair.evaluation import confusion_figure, confusion_matrix, per_class_table, predict
from margin_repair.table import build_fact_table
from margin_repair.weights import zero_weights

MAPPING = ClassMapping(labels=(0, 1, 2), codepoints=(65, 66, 67))


def test_predict_takes_the_first_maximum():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1, 0, 0] = 255  # px:0 (upright row 0, col 0)
    images[2, 0, 1] = 255  # px:1
    weights = zero_weights(3)
    weights[1, 2] = 5  # px:0 votes for class 2
    weights[2, 1] = 5  # px:1 votes for class 1 ...
    weights[2, 0] = 5  # ... and class 0 as much: the tie goes to class 0
    table = build_fact_table(images, bin_threshold=127, cap_unary=128)
    assert predict(table, weights).tolist() == [0, 2, 0]


def test_confusion_and_per_class_table():
    true = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 1, 0])
    confusion = confusion_matrix(true, predicted, 3)
    assert confusion.tolist() == [[1, 2, 0], [0, 2, 0], [1, 0, 0]]
    table = per_class_table(confusion, MAPPING)
    assert table["character"] == ["A", "B", "C"]
    assert table["support"] == [3, 2, 1] and table["correct"] == [1, 2, 0]
    assert table["accuracy"] == [1 / 3, 1.0, 0.0]
    assert table["most_confused_with"] == ["B", "", "A"] and table["most_confused_count"] == [2, 0, 1]
    figure = confusion_figure(confusion, MAPPING, "test")
    assert figure.axes[0].get_title() == "test"
