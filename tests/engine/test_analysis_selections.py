"""The examples each class shows (engine.analysis.selections): worst 5 and best 3, by the definitions."""

from __future__ import annotations

import numpy as np

from engine.analysis.selections import LOW_CONFIDENCE_CORRECT, MISCLASSIFIED, NONE, select


def test_worst_and_best_follow_the_definition():
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    preds = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0])
    conf = np.array([0.6, 0.9, 0.5, 0.95, 0.4, 0.8, 0.99, 0.7, 0.55])
    s = select(labels, preds, conf, 3)
    # class 0: two wrong (0.9 then 0.6), then correct by ascending confidence (0.4, 0.5, 0.8)
    assert s.worst_of(0) == [(1, MISCLASSIFIED), (0, MISCLASSIFIED), (4, LOW_CONFIDENCE_CORRECT),
                             (2, LOW_CONFIDENCE_CORRECT), (5, LOW_CONFIDENCE_CORRECT)]
    assert s.best_of(0) == [6, 3, 5]
    assert s.worst_of(1) == [(8, MISCLASSIFIED), (7, LOW_CONFIDENCE_CORRECT)]
    assert s.best_of(2) == [] and s.worst_of(2) == []
    assert s.worst_idx[2].tolist() == [-1] * 5 and s.worst_kind[2].tolist() == [NONE] * 5  # padded


def test_ties_keep_image_order():
    labels = np.zeros(8, dtype=np.int64)
    preds = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    conf = np.full(8, 0.5)
    s = select(labels, preds, conf, 2)
    assert [i for i, _ in s.worst_of(0)] == [0, 1, 2, 3, 4]
    assert s.best_of(0) == [3, 4, 5]
