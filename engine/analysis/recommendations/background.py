"""Wrong answers come from the background (Grad-CAM off the object): over the run's errors, more often than
on right answers, or for the classes the attention ranking singles out against the run's baseline."""

from __future__ import annotations

import numpy as np

from engine.analysis.attention import BACKGROUND_FLAG, RING_FRACTION
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding, beats, class_counts, maps_trusted
from engine.analysis.recommendations.map_regions import CAM_PATTERN_MIN
from engine.analysis.stats import estimate


def background(run) -> Finding | None:
    """Two claims, each against its baseline: (1) the predicted-class map is off the object on a large share
    of errors, beyond the same share on correct predictions; (2) classes ranked by
    engine.analysis.attention_ranking (their own map off the object in the errors they are part of, beyond
    the run's share). The finding addresses the errors either claim covers."""
    if not maps_trusted(run):
        return None
    c, att, wrong, e = run.cache, run.attention, ~run.correct, run.metrics.num_errors
    off = att.background_focus > BACKGROUND_FLAG
    rate, baseline = estimate(off[wrong]), estimate(off[~wrong])
    overall = int(off[wrong].sum()) >= MIN_ERRORS and rate.value >= CAM_PATTERN_MIN and beats(rate, baseline)
    ranking = run.attention_ranking
    ranked = list(ranking.order)
    labels, preds = c.labels, c.preds
    covered = np.zeros(c.num_images, dtype=bool)
    if overall:
        covered |= wrong & off
    if ranked:
        covered |= wrong & np.isin(labels, ranked) & (att.background_focus_true > BACKGROUND_FLAG)
        covered |= wrong & np.isin(preds, ranked) & off
    n = int(covered.sum())
    if n < MIN_ERRORS or not (overall or ranked):
        return None
    counts = class_counts(run, off[wrong])[:LIST_LIMIT]
    facts = {"count": n, "errors": e, "overall": overall, "rate_errors": rate, "rate_correct": baseline,
             "flagged": int(off[wrong].sum()), "uses_masks": att.uses_masks,
             "ring_px": max(1, round(min(c.image_size) * RING_FRACTION)), "classes": counts,
             "ranked": [(k, ranking.share[k]) for k in ranked[:LIST_LIMIT]], "ranked_total": len(ranked),
             "ranking_baseline": ranking.baseline}
    classes = tuple(dict.fromkeys([*ranked[:LIST_LIMIT], *(k for k, _ in counts)]))[:LIST_LIMIT]
    return Finding("background", n / e, n, facts, classes)
