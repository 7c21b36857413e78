"""Which images a figure shows, and how a Grad-CAM target relates to an image: one selector for the PNG
reports and the terminal app alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.selections import (
    HIGH_CONFIDENCE_CORRECT,
    KIND_NAMES,
    LOW_CONFIDENCE_CORRECT,
    MISCLASSIFIED,
    Selections,
)
from engine.store import RunCache


@dataclass(frozen=True)
class Example:
    """One image of a class's page: where it sits in the worst/best lists, and why it was picked."""

    index: int  # image index into the cache
    group: str  # "worst" or "best"
    position: int  # 1-based within its group
    kind: int  # engine.analysis.selections kind code

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "")

    @property
    def misclassified(self) -> bool:
        return self.kind == MISCLASSIFIED


def class_examples(selections: Selections, c: int) -> list[Example]:
    """The worst then the best predictions of class c, in report order."""
    out = [Example(i, "worst", n, k) for n, (i, k) in enumerate(selections.worst_of(c), 1)]
    out += [Example(i, "best", n, HIGH_CONFIDENCE_CORRECT) for n, i in enumerate(selections.best_of(c), 1)]
    return out


def worst_line(kinds: list[int]) -> str:
    """'Worst predictions: 5 — misclassified 3, low-confidence correct 2' (the class page's header line)."""
    n_wrong = sum(k == MISCLASSIFIED for k in kinds)
    n_low = sum(k == LOW_CONFIDENCE_CORRECT for k in kinds)
    return f"Worst predictions: {len(kinds)} — misclassified {n_wrong}, low-confidence correct {n_low}"


def pair_examples(cache: RunCache, true_id: int, pred_id: int, limit: int | None = None) -> list[int]:
    """Images of true class `true_id` predicted as `pred_id`, most confident first (ties keep image order)."""
    idx = np.nonzero((cache.labels == true_id) & (cache.preds == pred_id))[0]
    order = np.lexsort((idx, -cache.confidence[idx]))
    return [int(i) for i in idx[order][:limit]]


def target_role(cache: RunCache, i: int, cls: int) -> str:
    """How a Grad-CAM target relates to image i: 'True', 'Pred', 'True = Pred', or its top-k rank ('Top-3')."""
    truth, pred = int(cache.labels[i]), int(cache.preds[i])
    if cls == truth and cls == pred:
        return "True = Pred"
    if cls == truth:
        return "True"
    if cls == pred:
        return "Pred"
    hits = np.nonzero(cache.topk_classes[i] == cls)[0]
    return f"Top-{int(hits[0]) + 1}" if len(hits) else "Other"
