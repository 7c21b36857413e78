"""Accuracy, the confusion matrix, per-class and per-superclass figures and the most confused pairs
(engine.analysis.metrics), by the definitions of its docstring, on hand-made cases where the answer is known."""

from __future__ import annotations

import numpy as np

from engine.analysis.metrics import coarse_confusion, confusion_matrix, measure


def probs_for(preds, conf, n_cls):
    """Probabilities that predict `preds` with confidence `conf`, the rest spread evenly."""
    p = np.full((len(preds), n_cls), 0.0, dtype=np.float32)
    for i, (c, v) in enumerate(zip(preds, conf)):
        p[i] = (1 - v) / (n_cls - 1)
        p[i, c] = v
    return p


def _measure(labels, preds, conf, names, *superclasses):
    """measure() of a run that predicted `preds` (the top-k lists start with them)."""
    probs = probs_for(preds, conf, len(names))
    topk = np.array([[p, *(c for c in np.argsort(-row, kind="stable") if c != p)] for p, row in zip(preds, probs)])
    return measure(labels, probs, topk, names, *superclasses)


def test_confusion_and_per_class_metrics():
    labels = np.array([0, 0, 1, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 0, 1])
    cm = confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]
    m = _measure(labels, preds, np.full(6, 0.7), ["x", "y", "z"])
    assert m.confusion.tolist() == cm.tolist()
    assert (m.num_images, m.num_correct, m.num_errors) == (6, 3, 3) and m.top1 == 0.5
    table = m.per_class.frame.set_index("class_name")
    row = table.loc["y"]
    assert row.support == 3 and row.correct == 2
    assert abs(row.precision - 2 / 4) < 1e-12 and abs(row.recall - 2 / 3) < 1e-12
    assert abs(row.f1 - 2 * (0.5 * 2 / 3) / (0.5 + 2 / 3)) < 1e-12
    assert row.top_wrong_prediction == "x" and row.top_wrong_count == 1
    z = table.loc["z"]
    assert z.accuracy == 0 and z.f1 == 0 and np.isnan(z.precision)
    assert np.isnan(z.mean_confidence_correct) and abs(z.mean_confidence_wrong - 0.7) < 1e-6
    assert len(m.per_class) == 3 and m.superclass is None and m.errors_within_superclass is None


def test_confused_pairs_ties_broken_by_confidence_then_name():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([1, 1, 0, 0, 0, 0, 1])
    conf = np.array([0.5, 0.5, 0.9, 0.9, 0.5, 0.5, 0.3])
    m = _measure(labels, preds, conf, ["c", "b", "a"], ["s0", "s1"], np.array([0, 0, 1]))
    pairs = m.confused_pairs
    assert list(zip(pairs["true_name"], pairs["pred_name"])) == [("b", "c"), ("a", "c"), ("c", "b"), ("a", "b")]
    assert list(pairs["rank"]) == [1, 2, 3, 4]
    assert list(pairs["count"]) == [2, 2, 2, 1]
    assert list(pairs["same_superclass"]) == [True, False, True, False]
    np.testing.assert_allclose(pairs["share_of_true"], [1.0, 2 / 3, 1.0, 1 / 3])
    assert abs(m.errors_within_superclass - 4 / 7) < 1e-12


def test_superclass_figures():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([1, 1, 0, 0, 0, 0, 2])
    c2s = np.array([0, 0, 1])
    m = _measure(labels, preds, np.full(7, 0.8), ["c", "b", "a"], ["s0", "s1"], c2s)
    sc = m.superclass.frame.set_index("superclass")
    assert sc.loc["s0", "support"] == 4 and sc.loc["s0", "accuracy"] == 0 and sc.loc["s0", "superclass_accuracy"] == 1
    assert sc.loc["s1", "errors"] == 2 and sc.loc["s1", "errors_within_superclass"] == 0
    assert coarse_confusion(labels, preds, c2s, 2).tolist() == [[4, 0], [2, 1]]


def test_top5_uses_top_k_classes():
    labels = np.array([0, 1])
    probs = np.array([[0.1, 0.5, 0.4], [0.2, 0.3, 0.5]], dtype=np.float32)
    topk = np.array([[1, 2], [2, 1]])
    m = measure(labels, probs, topk, ["a", "b", "c"])
    assert m.top1 == 0 and m.top5 == 0.5


def test_an_empty_run_has_no_accuracy():
    m = measure(np.zeros(0, np.int64), np.zeros((0, 2), np.float32), np.zeros((0, 2), np.int64), ["a", "b"])
    assert np.isnan(m.top1) and np.isnan(m.top5) and m.num_errors == 0 and len(m.confused_pairs) == 0
