"""Test images whose given label is likely wrong, in the spirit of confident learning (Northcutt et al. 2021).

Each class j gets a threshold t_j: the mean probability the model gives class j on images labelled j.
An image labelled y is a suspect when some other class j clears its own threshold (p_j >= t_j), the
most probable such class is not y, and the model gives it more than the given label (p_j > p_y).
Suspects are ranked by the margin p_j - p_y. A model that is itself often confidently wrong produces
many such candidates, so the list marks the `strong` ones (margin >= 0.9: the model all but excludes the
given label); those are the ones worth a human look first, and the count quoted as likely label errors.
"""

from __future__ import annotations

import numpy as np

from engine.analysis.tables import Table

STRONG_MARGIN = 0.9


def class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    n_cls = probs.shape[1]
    sums = np.zeros(n_cls)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    counts = np.bincount(labels, minlength=n_cls)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def label_suspects(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Table:
    """Ranked suspects (most likely first): image, given and suggested label, both probabilities, margin,
    the threshold met, and whether the suspicion is strong."""
    labels = np.asarray(labels, dtype=np.int64)
    t = class_thresholds(probs, labels)
    above = probs >= t[None, :]
    masked = np.where(above, probs, -1.0)
    best = masked.argmax(axis=1)
    has = above.any(axis=1)
    idx = np.arange(len(labels))
    p_given = probs[idx, labels]
    p_best = probs[idx, best]
    sus = has & (best != labels) & (p_best > p_given)
    i = idx[sus]
    margin = p_best[i] - p_given[i]
    order = np.lexsort((i, -margin))  # margin descending, then image order (stable, NaN last)
    i, margin = i[order], margin[order]
    return Table({
        "rank": np.arange(1, len(i) + 1),
        "image": i,
        "given_id": labels[i],
        "given": [class_names[c] for c in labels[i]],
        "suggested_id": best[i],
        "suggested": [class_names[c] for c in best[i]],
        "p_given": p_given[i],
        "p_suggested": p_best[i],
        "margin": margin,
        "threshold": t[best[i]],
        "strong": margin >= STRONG_MARGIN,
    })
