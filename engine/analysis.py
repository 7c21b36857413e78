"""Error analysis from labels and probabilities: the exact definitions of DESIGN.md (torch-free).

Everything here is a pure function of per-image arrays, so the engine, the report writers and the TUI
agree to the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas costs ~0.35 s to import: only the tables pay for it, not the TUI's first screen
    import pandas as pd

Columns = dict[str, Any]  # column name -> numpy array or list, one entry per row

WORST_PER_CLASS = 5
BEST_PER_CLASS = 3
TOP_CONFUSED_PAIRS = 15

# worst_kind codes
NONE, MISCLASSIFIED, LOW_CONFIDENCE_CORRECT = -1, 0, 1
HIGH_CONFIDENCE_CORRECT = 2
KIND_NAMES = {
    MISCLASSIFIED: "misclassified",
    LOW_CONFIDENCE_CORRECT: "low-confidence correct",
    HIGH_CONFIDENCE_CORRECT: "high-confidence correct",
}


@dataclass(frozen=True)
class Analysis:
    """Metrics and selections of one run. Index arrays are padded with -1 where a class has too few images.

    The tables exist twice: as plain numpy columns (`*_columns`, computed eagerly and cheaply) and as pandas
    DataFrames built from them on first use, so code that only needs numbers never imports pandas."""

    top1: float
    top5: float
    num_images: int
    num_correct: int
    confusion: np.ndarray  # int64 (C, C): rows true class, columns predicted class
    worst_idx: np.ndarray  # int64 (C, 5): image indices, -1 padded
    worst_kind: np.ndarray  # int8 (C, 5): MISCLASSIFIED / LOW_CONFIDENCE_CORRECT / NONE
    best_idx: np.ndarray  # int64 (C, 3): image indices, -1 padded
    per_class_columns: Columns  # one row per class, see per_class_columns()
    confused_pairs_columns: Columns  # top-15 (true -> predicted), see confused_pairs_columns()
    superclass_columns: Columns | None  # one row per superclass, when superclasses are known
    errors_within_superclass: float | None  # share of errors whose prediction stays in the true superclass

    @cached_property
    def per_class(self) -> pd.DataFrame:
        return frame(self.per_class_columns)

    @cached_property
    def confused_pairs(self) -> pd.DataFrame:
        return frame(self.confused_pairs_columns)

    @cached_property
    def superclass(self) -> pd.DataFrame | None:
        return None if self.superclass_columns is None else frame(self.superclass_columns)

    def worst_of(self, c: int) -> list[tuple[int, int]]:
        """(image index, kind) of class c's worst predictions, in report order."""
        return [(int(i), int(k)) for i, k in zip(self.worst_idx[c], self.worst_kind[c]) if i >= 0]

    def best_of(self, c: int) -> list[int]:
        return [int(i) for i in self.best_idx[c] if i >= 0]


def frame(columns: Columns) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    flat = labels.astype(np.int64) * num_classes + preds.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def select_worst_and_best(
    labels: np.ndarray, preds: np.ndarray, confidence: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worst 5 per class (wrong by descending confidence, then right by ascending confidence) and best 3
    (right by descending confidence). Ties keep image order."""
    worst_idx = np.full((num_classes, WORST_PER_CLASS), -1, dtype=np.int64)
    worst_kind = np.full((num_classes, WORST_PER_CLASS), NONE, dtype=np.int8)
    best_idx = np.full((num_classes, BEST_PER_CLASS), -1, dtype=np.int64)
    correct = labels == preds
    order_desc = np.lexsort((np.arange(len(labels)), -confidence))  # by confidence descending, stable
    order_asc = np.lexsort((np.arange(len(labels)), confidence))
    # group the sorted orders by class once: O(N log N) overall
    for order, pick in ((order_desc, "desc"), (order_asc, "asc")):
        lab = labels[order]
        cor = correct[order]
        for c in range(num_classes):
            members = order[lab == c]
            mcor = cor[lab == c]
            if pick == "desc":
                wrong = members[~mcor][:WORST_PER_CLASS]
                worst_idx[c, : len(wrong)] = wrong
                worst_kind[c, : len(wrong)] = MISCLASSIFIED
                best = members[mcor][:BEST_PER_CLASS]
                best_idx[c, : len(best)] = best
            else:
                n_wrong = int((worst_kind[c] == MISCLASSIFIED).sum())
                room = WORST_PER_CLASS - n_wrong
                if room:
                    low = members[mcor][:room]
                    worst_idx[c, n_wrong : n_wrong + len(low)] = low
                    worst_kind[c, n_wrong : n_wrong + len(low)] = LOW_CONFIDENCE_CORRECT
    return worst_idx, worst_kind, best_idx


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


def analyse(
    labels: np.ndarray,
    probs: np.ndarray,
    preds: np.ndarray,
    topk_classes: np.ndarray,
    class_names: list[str],
    superclass_names: list[str] | None = None,
    class_to_superclass: np.ndarray | None = None,
) -> Analysis:
    """All metrics and selections of DESIGN.md from per-image arrays."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    n_cls = len(class_names)
    confidence = probs[np.arange(len(labels)), preds].astype(np.float64)
    confusion = confusion_matrix(labels, preds, n_cls)
    worst_idx, worst_kind, best_idx = select_worst_and_best(labels, preds, confidence, n_cls)
    correct = labels == preds
    k5 = min(5, topk_classes.shape[1])
    top5 = float((topk_classes[:, :k5] == labels[:, None]).any(axis=1).mean()) if len(labels) else float("nan")
    sc_columns, sc_share = (None, None)
    if superclass_names is not None and class_to_superclass is not None:
        sc_columns, sc_share = superclass_columns(labels, preds, superclass_names, class_to_superclass)
    return Analysis(
        top1=float(correct.mean()) if len(labels) else float("nan"),
        top5=top5,
        num_images=int(len(labels)),
        num_correct=int(correct.sum()),
        confusion=confusion,
        worst_idx=worst_idx,
        worst_kind=worst_kind,
        best_idx=best_idx,
        per_class_columns=per_class_columns(
            labels, preds, confidence, confusion, class_names, superclass_names, class_to_superclass
        ),
        confused_pairs_columns=confused_pairs_columns(
            labels, preds, confidence, confusion, class_names, class_to_superclass
        ),
        superclass_columns=sc_columns,
        errors_within_superclass=sc_share,
    )
