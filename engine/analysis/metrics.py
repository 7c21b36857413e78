"""Accuracy, the confusion matrix, per-class and per-superclass figures and the most confused pairs.

Definitions (the reports, the printout and the TUI all read them from here):
- confusion matrix: rows true class, columns predicted class;
- per class: support, correct, accuracy (= recall), precision, F1 (0 where the class has images but none
  right), mean confidence overall / when right / when wrong, and the most frequent wrong prediction;
- most confused pairs: the largest off-diagonal counts (true A -> predicted B), top 15; ties by mean
  confidence (higher first), then by name;
- superclass accuracy: the prediction lands in the true superclass; "errors within the superclass": the
  share of errors whose prediction stays in the true superclass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.tables import Columns, Table

TOP_CONFUSED_PAIRS = 15


@dataclass(frozen=True, eq=False)
class Metrics:
    """The headline figures and tables of one run."""

    top1: float
    top5: float
    num_images: int
    num_correct: int
    confusion: np.ndarray  # int64 (C, C): rows true class, columns predicted class
    per_class: Table  # one row per class, see per_class_columns()
    confused_pairs: Table  # top-15 (true -> predicted), see confused_pairs_columns()
    superclass: Table | None  # one row per superclass, when superclasses are known
    errors_within_superclass: float | None  # share of errors whose prediction stays in the true superclass

    @property
    def num_errors(self) -> int:
        return self.num_images - self.num_correct


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    flat = labels.astype(np.int64) * num_classes + preds.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _group_mean(values: np.ndarray, groups: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    sums = np.bincount(groups[mask], weights=values[mask], minlength=n)
    counts = np.bincount(groups[mask], minlength=n)
    return _safe_div(sums, counts)


def per_class_columns(
    labels: np.ndarray,
    preds: np.ndarray,
    confidence: np.ndarray,
    confusion: np.ndarray,
    class_names: list[str],
    superclass_names: list[str] | None,
    class_to_superclass: np.ndarray | None,
) -> Columns:
    """One row per class: support, accuracy, precision/recall/F1, mean confidences, most frequent wrong guess."""
    n = len(class_names)
    tp = np.diag(confusion).astype(np.int64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    f1 = np.where((tp == 0) & (support > 0), 0.0, f1)
    correct = labels == preds
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    top_wrong = off.argmax(axis=1)
    top_wrong_count = off.max(axis=1)
    return {
        "class_id": np.arange(n),
        "class_name": list(class_names),
        "superclass": [superclass_names[s] for s in class_to_superclass]
        if superclass_names is not None and class_to_superclass is not None
        else [""] * n,
        "support": support,
        "correct": tp,
        "accuracy": recall,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "mean_confidence": _group_mean(confidence, labels, np.ones_like(correct), n),
        "mean_confidence_correct": _group_mean(confidence, labels, correct, n),
        "mean_confidence_wrong": _group_mean(confidence, labels, ~correct, n),
        "top_wrong_prediction": [class_names[t] if k > 0 else "" for t, k in zip(top_wrong, top_wrong_count)],
        "top_wrong_count": top_wrong_count,
    }


def confused_pairs_columns(
    labels: np.ndarray,
    preds: np.ndarray,
    confidence: np.ndarray,
    confusion: np.ndarray,
    class_names: list[str],
    class_to_superclass: np.ndarray | None,
    top: int = TOP_CONFUSED_PAIRS,
) -> Columns:
    """Largest off-diagonal counts (true -> predicted); ties by mean confidence (higher first), then by name."""
    n = len(class_names)
    wrong = labels != preds
    pair = labels[wrong].astype(np.int64) * n + preds[wrong]
    conf_sum = np.bincount(pair, weights=confidence[wrong], minlength=n * n).reshape(n, n)
    t, p = np.nonzero((confusion > 0) & ~np.eye(n, dtype=bool))
    counts = confusion[t, p]
    mean_conf = conf_sum[t, p] / counts
    names = np.array([f"{class_names[a]} -> {class_names[b]}" for a, b in zip(t, p)], dtype=np.str_)
    # np.lexsort is stable and sorts NaN last, as pandas' sort_values does; the last key is the primary one
    order = np.lexsort((names, -mean_conf, -counts))[:top] if len(t) else np.zeros(0, dtype=np.int64)
    t, p, counts, mean_conf = t[order], p[order], counts[order], mean_conf[order]
    return {
        "rank": np.arange(1, len(order) + 1),
        "true_id": t,
        "true_name": [class_names[a] for a in t],
        "pred_id": p,
        "pred_name": [class_names[b] for b in p],
        "count": counts,
        "share_of_true": counts / np.maximum(confusion.sum(axis=1)[t], 1),
        "mean_confidence": mean_conf,
        "same_superclass": (class_to_superclass[t] == class_to_superclass[p])
        if class_to_superclass is not None
        else np.zeros(len(t), dtype=bool),
    }


def superclass_columns(
    labels: np.ndarray, preds: np.ndarray, superclass_names: list[str], class_to_superclass: np.ndarray
) -> tuple[Columns, float | None]:
    """Per-superclass fine accuracy and coarse accuracy (prediction lands in the right superclass), and the
    share of all errors that stay inside the true superclass."""
    true_s = class_to_superclass[labels]
    pred_s = class_to_superclass[preds]
    correct = labels == preds
    m = len(superclass_names)
    support = np.bincount(true_s, minlength=m)
    fine_correct = np.bincount(true_s[correct], minlength=m)
    coarse_correct = np.bincount(true_s[true_s == pred_s], minlength=m)
    errors = np.bincount(true_s[~correct], minlength=m)
    within = np.bincount(true_s[~correct & (true_s == pred_s)], minlength=m)
    columns = {
        "superclass_id": np.arange(m),
        "superclass": list(superclass_names),
        "support": support,
        "accuracy": _safe_div(fine_correct, support),
        "superclass_accuracy": _safe_div(coarse_correct, support),
        "errors": errors,
        "errors_within_superclass": within,
    }
    n_err = int((~correct).sum())
    share = float(within.sum() / n_err) if n_err else None
    return columns, share


def coarse_confusion(labels: np.ndarray, preds: np.ndarray, class_to_superclass: np.ndarray, n_super: int) -> np.ndarray:
    """(S, S): rows true superclass, columns predicted superclass."""
    flat = class_to_superclass[labels] * n_super + class_to_superclass[preds]
    return np.bincount(flat, minlength=n_super * n_super).reshape(n_super, n_super)


def measure(
    labels: np.ndarray,
    probs: np.ndarray,
    topk_classes: np.ndarray,
    class_names: list[str],
    superclass_names: list[str] | None = None,
    class_to_superclass: np.ndarray | None = None,
) -> Metrics:
    """Every figure above, from per-image arrays (the prediction is topk_classes[:, 0])."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(topk_classes[:, 0], dtype=np.int64)
    n_cls = len(class_names)
    confidence = probs[np.arange(len(labels)), preds].astype(np.float64)
    confusion = confusion_matrix(labels, preds, n_cls)
    correct = labels == preds
    k5 = min(5, topk_classes.shape[1])
    top5 = float((topk_classes[:, :k5] == labels[:, None]).any(axis=1).mean()) if len(labels) else float("nan")
    sc_columns, sc_share = (None, None)
    if superclass_names is not None and class_to_superclass is not None:
        sc_columns, sc_share = superclass_columns(labels, preds, superclass_names, class_to_superclass)
    return Metrics(
        top1=float(correct.mean()) if len(labels) else float("nan"),
        top5=top5,
        num_images=int(len(labels)),
        num_correct=int(correct.sum()),
        confusion=confusion,
        per_class=Table(per_class_columns(
            labels, preds, confidence, confusion, class_names, superclass_names, class_to_superclass
        )),
        confused_pairs=Table(confused_pairs_columns(
            labels, preds, confidence, confusion, class_names, class_to_superclass
        )),
        superclass=None if sc_columns is None else Table(sc_columns),
        errors_within_superclass=sc_share,
    )
