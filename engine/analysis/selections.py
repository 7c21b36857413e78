"""The examples the reports show for each class, by the notebook's definitions.

- Worst predictions of class c (5 per class): images whose true label is c; first the misclassified ones
  by descending confidence in the wrong class, then, if fewer than 5, correctly classified ones by
  ascending confidence ("low-confidence correct").
- Best predictions of class c (3 per class): correctly classified, highest confidence.
Ties keep image order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORST_PER_CLASS = 5
BEST_PER_CLASS = 3

# kinds of example
NONE, MISCLASSIFIED, LOW_CONFIDENCE_CORRECT, HIGH_CONFIDENCE_CORRECT = -1, 0, 1, 2
KIND_NAMES = {
    MISCLASSIFIED: "misclassified",
    LOW_CONFIDENCE_CORRECT: "low-confidence correct",
    HIGH_CONFIDENCE_CORRECT: "high-confidence correct",
}


@dataclass(frozen=True, eq=False)
class Selections:
    """Index arrays are padded with -1 where a class has too few images."""

    worst_idx: np.ndarray  # int64 (C, 5): image indices
    worst_kind: np.ndarray  # int8 (C, 5): MISCLASSIFIED / LOW_CONFIDENCE_CORRECT / NONE
    best_idx: np.ndarray  # int64 (C, 3)

    def worst_of(self, c: int) -> list[tuple[int, int]]:
        """(image index, kind) of class c's worst predictions, in report order."""
        return [(int(i), int(k)) for i, k in zip(self.worst_idx[c], self.worst_kind[c]) if i >= 0]

    def best_of(self, c: int) -> list[int]:
        return [int(i) for i in self.best_idx[c] if i >= 0]


def select(
    labels: np.ndarray, preds: np.ndarray, confidence: np.ndarray, num_classes: int
) -> Selections:
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
    return Selections(worst_idx, worst_kind, best_idx)
