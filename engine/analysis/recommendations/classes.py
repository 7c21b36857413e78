"""A handful of classes lag far behind the rest."""

from __future__ import annotations

from engine.analysis.recommendations.base import MIN_ERRORS, Finding

WEAK_CLASS_STD = 1.5  # weak class: accuracy this many standard deviations below the mean ...
WEAK_CLASS_GAP = 0.10  # ... and at least 10 points below it
MIN_SUPPORT = 10  # classes with fewer test images are not judged


def weak_classes(run) -> Finding | None:
    pc, e = run.metrics.per_class.frame, run.metrics.num_errors
    acc = pc["accuracy"]
    valid = acc.notna() & (pc["support"] >= MIN_SUPPORT)
    if valid.sum() < 3:
        return None
    mean, std = float(acc[valid].mean()), float(acc[valid].std())
    cut = min(mean - WEAK_CLASS_STD * std, mean - WEAK_CLASS_GAP)
    weak = pc[valid & (acc < cut)].sort_values(["accuracy", "class_id"])
    n = int((weak["support"] - weak["correct"]).sum())
    if weak.empty or n < MIN_ERRORS:
        return None
    rows = [(int(w.class_id), float(w.accuracy)) for w in weak.itertuples()]
    facts = {"cut": cut, "mean": mean, "std": std, "classes": rows, "count": n, "errors": e}
    return Finding("weak_classes", n / e, n, facts, tuple(c for c, _ in rows))
