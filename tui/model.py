"""What the views show, computed from the cache alone (no Textual), so it is cheap to test and reuse.

Every number here comes from `engine.analysis` (the same definitions as the PNG/CSV reports); this module
only selects and words them: the examples of a class or of a confused pair, the class header lines of the
notebook, and the Grad-CAM targets an example can be drawn for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from engine.analysis import HIGH_CONFIDENCE_CORRECT, KIND_NAMES, MISCLASSIFIED
from engine.cache import RunCache
from engine.console import visible, visible_tree


def for_terminal(cache: RunCache) -> RunCache:
    """The cache as the app shows it: class and superclass names and every metadata string made visible()
    (engine.console), so no control character from the file reaches the terminal through any view. The
    numbers are the cache's own; the cache itself is returned when nothing needs escaping."""
    names = [visible(n) for n in cache.class_names]
    supers = None if cache.superclass_names is None else [visible(n) for n in cache.superclass_names]
    meta = visible_tree(cache.meta)
    if names == list(cache.class_names) and supers == cache.superclass_names and meta == cache.meta:
        return cache
    return dataclasses.replace(cache, class_names=names, superclass_names=supers, meta=meta, _analysis=None,
                               _diagnostics=None)


@dataclass(frozen=True)
class Example:
    """One image shown in the class view: where it sits in the worst/best lists, and why it was picked."""

    index: int  # image index into the cache
    group: str  # "worst" or "best"
    position: int  # 1-based within its group
    kind: int  # engine.analysis kind code

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "")

    @property
    def misclassified(self) -> bool:
        return self.kind == MISCLASSIFIED


def class_examples(cache: RunCache, c: int) -> list[Example]:
    """The worst then the best predictions of class c, in report order."""
    a = cache.analysis
    out = [Example(i, "worst", n, k) for n, (i, k) in enumerate(a.worst_of(c), 1)]
    out += [Example(i, "best", n, HIGH_CONFIDENCE_CORRECT) for n, i in enumerate(a.best_of(c), 1)]
    return out


def pair_examples(cache: RunCache, true_id: int, pred_id: int) -> list[int]:
    """Images of true class `true_id` predicted as `pred_id`, most confident first (ties keep image order)."""
    idx = np.nonzero((cache.labels == true_id) & (cache.preds == pred_id))[0]
    conf = cache.confidence[idx]
    return [int(i) for i in idx[np.lexsort((idx, -conf))]]


def pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


def class_header(cache: RunCache, c: int) -> list[str]:
    """The notebook's header lines for class c (plain text, no markup)."""
    a = cache.analysis
    row = a.per_class.iloc[c]
    support, correct = int(row["support"]), int(row["correct"])
    kinds = [k for _, k in a.worst_of(c)]
    n_wrong = sum(k == MISCLASSIFIED for k in kinds)
    sup = f" · superclass {row['superclass']}" if row["superclass"] else ""
    lines = [
        f"Class {c}: {cache.class_names[c]}{sup}",
        f"Accuracy: {pct(row['accuracy'])} ({correct}/{support} correct)",
        f"Worst predictions found: {len(kinds)} — misclassified {n_wrong}, "
        f"low-confidence correct {len(kinds) - n_wrong}",
    ]
    wrong = a.confusion[c].copy()
    wrong[c] = 0
    order = [int(j) for j in np.argsort(-wrong, kind="stable") if wrong[j] > 0][:5]
    if order:
        listed = ", ".join(f"{cache.class_names[j]} ({wrong[j]})" for j in order)
        lines.append(f"Most common misclassifications: {listed}")
    else:
        lines.append("Most common misclassifications: none")
    return lines


def default_target(cache: RunCache, i: int) -> int:
    """The class whose Grad-CAM an example shows first: the prediction (the true class when it is right)."""
    return int(cache.preds[i])


def next_target(cache: RunCache, i: int, current: int) -> int:
    """Cycle through the classes the cache holds a Grad-CAM for: prediction, other top-k, true class."""
    order = [int(c) for c in cache.topk_classes[i]]
    truth = int(cache.labels[i])
    if truth not in order:
        order.append(truth)
    k = order.index(current) if current in order else -1
    return order[(k + 1) % len(order)]


def target_role(cache: RunCache, i: int, cls: int) -> str:
    """How a Grad-CAM target relates to image i: 'True', 'Pred', or its top-k rank, e.g. 'Top-3'."""
    if cls == int(cache.labels[i]) and cls == int(cache.preds[i]):
        return "True = Pred"
    if cls == int(cache.labels[i]):
        return "True"
    if cls == int(cache.preds[i]):
        return "Pred"
    hits = np.nonzero(cache.topk_classes[i] == cls)[0]
    return f"Top-{int(hits[0]) + 1}" if len(hits) else "Other"


def confused_with(cache: RunCache, i: int, target: int) -> int:
    """The class `g` jumps to from image i: the shown target if it is not the true class, else the
    prediction if wrong, else the runner-up."""
    truth = int(cache.labels[i])
    if target != truth:
        return target
    if int(cache.preds[i]) != truth:
        return int(cache.preds[i])
    top = [int(c) for c in cache.topk_classes[i] if int(c) != truth]
    return top[0] if top else truth


def example_caption(cache: RunCache, i: int) -> str:
    """True class, prediction and confidence of image i, as the figures caption it."""
    t, p = int(cache.labels[i]), int(cache.preds[i])
    return (
        f"image #{i} · true: {cache.class_names[t]} · predicted: {cache.class_names[p]} "
        f"({pct(float(cache.confidence[i]))})"
    )
