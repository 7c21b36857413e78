"""Wrong answers come from the background (Grad-CAM off the object) more often than right ones."""

from __future__ import annotations

from engine.analysis.attention import BACKGROUND_FLAG, RING_FRACTION
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding, class_counts
from engine.analysis.recommendations.map_regions import CAM_PATTERN_MIN

BORDER_RATIO_MIN = 1.25  # errors must show a background pattern this much more often than correct answers


def background(run) -> Finding | None:
    """Grad-CAM mostly off the object (with masks) or in the outer ring (without), as the attention
    analysis measures it, more often on errors than on right answers."""
    c, att, wrong, e = run.cache, run.attention, ~run.correct, run.metrics.num_errors
    off = att.background_focus > BACKGROUND_FLAG
    n = int(off[wrong].sum())
    rate_err = n / e
    rate_right = float(off[~wrong].mean()) if (~wrong).any() else 0.0
    if n < MIN_ERRORS or rate_err < CAM_PATTERN_MIN or rate_err < BORDER_RATIO_MIN * rate_right:
        return None
    counts = class_counts(run, off[wrong])[:LIST_LIMIT]
    facts = {"count": n, "errors": e, "rate_errors": rate_err, "rate_correct": rate_right,
             "uses_masks": att.uses_masks, "ring_px": max(1, round(min(c.image_size) * RING_FRACTION)),
             "classes": counts}
    return Finding("background", rate_err, n, facts, tuple(k for k, _ in counts))
