"""Test images whose given label is likely wrong, in the spirit of confident learning (Northcutt et al. 2021).

Each class j gets a threshold t_j: the mean probability the model gives class j on images labelled j.
An image labelled y is a suspect when some other class j clears its own threshold (p_j >= t_j), the
most probable such class is not y, and the model gives it more than the given label (p_j > p_y).

Suspects are ranked by the given label's probability against its own class's threshold, p_y / t_y, lowest
first ("class_self_confidence"): self-confidence, with each class judged against what the model usually
gives that class, so a class the model finds hard does not fill the top of the list. On the planted-error
benchmark (benchmarks/bench_suspects.py, docs/definitions.md) it ranks flipped labels at least as well as
the other scores in SCORES, and clearly better than the margin p_j - p_y this list was ranked by before.

A model that is itself often confidently wrong produces many candidates, so the list marks the `strong`
ones (margin >= 0.9: the model all but excludes the given label), the count quoted as likely label errors,
and the `ambiguous` ones (given and suggested class both >= AMBIGUOUS_P: two plausible classes, an image
to look at rather than a label to correct).

Several runs on the same images (two models, each with --tta flip) are combined by averaging their
probabilities; `runs_agreeing` counts the runs that flag the image on their own.
"""

from __future__ import annotations

import numpy as np

from engine.analysis.tables import Table

STRONG_MARGIN = 0.9
AMBIGUOUS_P = 0.25  # given and suggested class both at least this probable: two plausible classes
SCORES = ("class_self_confidence", "self_confidence", "margin", "normalized_margin", "threshold_margin",
          "log_ratio", "agreement")
SCORE = "class_self_confidence"  # the one the list is ranked by (benchmarks/bench_suspects.py)


def class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    n_cls = probs.shape[1]
    sums = np.zeros(n_cls)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    counts = np.bincount(labels, minlength=n_cls)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def _candidates(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images some other class claims (above its own threshold, beating the given label): their index,
    the suggested class of every image, and the class thresholds."""
    t = class_thresholds(probs, labels)
    above = probs >= t[None, :]
    best = np.where(above, probs, -1.0).argmax(axis=1)
    idx = np.arange(len(labels))
    sus = above.any(axis=1) & (best != labels) & (probs[idx, best] > probs[idx, labels])
    return idx[sus], best, t


def flagged(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """bool (N,): the images these probabilities make suspects."""
    out = np.zeros(len(labels), dtype=bool)
    out[_candidates(np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64))[0]] = True
    return out


def _score(name: str, probs: np.ndarray, labels: np.ndarray, i: np.ndarray, best: np.ndarray, t: np.ndarray,
           agreeing: np.ndarray) -> np.ndarray:
    """Higher = more likely a wrong label, for the candidates i."""
    p_given, p_best = probs[i, labels[i]], probs[i, best[i]]
    if name == "class_self_confidence":  # the given label's probability against its class's threshold
        return -p_given / t[labels[i]]
    if name == "self_confidence":  # how little the model believes the given label (cleanlab's self_confidence)
        return -p_given
    if name == "margin":  # the suggested class's lead over the given one
        return p_best - p_given
    if name == "normalized_margin":  # the strongest other class's lead (cleanlab's normalized_margin)
        other = probs[i].copy()
        other[np.arange(len(i)), labels[i]] = -1.0
        return other.max(axis=1) - p_given
    if name == "threshold_margin":  # the lead in units of each class's own threshold
        return p_best / t[best[i]] - p_given / t[labels[i]]
    if name == "log_ratio":  # the log-odds of suggested over given
        return np.log(p_best + 1e-12) - np.log(p_given + 1e-12)
    if name == "agreement":  # the runs that flag the image on their own, then the margin
        return agreeing[i] + (p_best - p_given)
    raise ValueError(f"unknown suspect score {name!r}; one of {', '.join(SCORES)}")


def ranked_suspects(runs: list[np.ndarray], labels: np.ndarray, class_names: list[str], score: str = SCORE) -> Table:
    """Ranked suspects (most likely first) from one or more runs' probabilities on the same images (their
    mean): image, given and suggested label, both probabilities, margin, the threshold met, strong,
    runs_agreeing, ambiguous, and the score ranked by."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.mean([np.asarray(p, dtype=np.float64) for p in runs], axis=0)
    agreeing = (np.sum([flagged(p, labels) for p in runs], axis=0) if len(runs) > 1
                else np.zeros(len(labels), dtype=np.int64))
    i, best, t = _candidates(probs, labels)
    if len(runs) == 1:
        agreeing[i] = 1
    s = _score(score, probs, labels, i, best, t, agreeing)
    order = np.lexsort((i, -s))  # score descending, then image order (stable, NaN last)
    i, s = i[order], s[order]
    p_given, p_best = probs[i, labels[i]], probs[i, best[i]]
    margin = p_best - p_given
    return Table({
        "rank": np.arange(1, len(i) + 1),
        "image": i,
        "given_id": labels[i],
        "given": [class_names[c] for c in labels[i]],
        "suggested_id": best[i],
        "suggested": [class_names[c] for c in best[i]],
        "p_given": p_given,
        "p_suggested": p_best,
        "margin": margin,
        "threshold": t[best[i]],
        "strong": margin >= STRONG_MARGIN,
        "runs_agreeing": agreeing[i].astype(np.int64),
        "ambiguous": np.minimum(p_given, p_best) >= AMBIGUOUS_P,
        "score": s,
    })


def label_suspects(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Table:
    """One run's ranked suspects (ranked_suspects of that run alone)."""
    return ranked_suspects([probs], labels, class_names)
