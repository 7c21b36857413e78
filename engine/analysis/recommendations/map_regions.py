"""Where the true-class and predicted-class maps of an error agree: the same region, or another one; each
claim made only when its share of errors beats the same share on correct predictions' top-1 vs top-2 maps
(engine.analysis.map_agreement)."""

from __future__ import annotations

from engine.analysis.map_agreement import OTHER_REGION_CORR, SAME_REGION_CORR
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding, beats, class_counts, maps_trusted

CAM_PATTERN_MIN = 0.15  # share of errors showing a Grad-CAM pattern


def map_regions(run) -> list[Finding]:
    if not maps_trusted(run):
        return []
    ma, e = run.map_agreement, run.metrics.num_errors
    out = []
    for key, selected, threshold, stat, baseline in (
        ("same_region", ma.corr_errors >= SAME_REGION_CORR, SAME_REGION_CORR, ma.same_errors, ma.same_baseline),
        ("other_region", ma.corr_errors < OTHER_REGION_CORR, OTHER_REGION_CORR, ma.other_errors, ma.other_baseline),
    ):
        n = int(selected.sum())
        if n >= MIN_ERRORS and n / e >= CAM_PATTERN_MIN and beats(stat, baseline):
            counts = class_counts(run, selected)[:LIST_LIMIT]
            facts = {"count": n, "errors": e, "threshold": threshold, "classes": counts, "rate": stat,
                     "baseline": baseline}
            out.append(Finding(key, n / e, n, facts, tuple(c for c, _ in counts)))
    return out
