"""Most errors are near misses: the true class is among the top predictions."""

from __future__ import annotations

from engine.analysis.recommendations.base import MIN_ERRORS, Finding

NEAR_MISS_MIN = 0.5  # share of errors whose true class is in the top 5


def near_misses(run) -> Finding | None:
    c, wrong, e = run.cache, ~run.correct, run.metrics.num_errors
    k = min(5, c.topk_classes.shape[1])
    if k < 2:
        return None
    in_topk = (c.topk_classes[wrong, :k] == c.labels[wrong, None]).any(axis=1)
    second = c.topk_classes[wrong, 1] == c.labels[wrong]
    n, n2 = int(in_topk.sum()), int(second.sum())
    if n < MIN_ERRORS or n / e < NEAR_MISS_MIN:
        return None
    facts = {"k": k, "in_topk": n, "second": n2, "errors": e, "top1": run.metrics.top1, "top5": run.metrics.top5}
    return Finding("near_misses", n / e, n, facts)
