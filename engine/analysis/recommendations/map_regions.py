"""Where the true-class and predicted-class maps of an error agree: the same region, or another one."""

from __future__ import annotations

import numpy as np

from engine.analysis.cam_maps import display_cam
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding, class_counts

SAME_REGION_CORR = 0.7  # true- and predicted-class maps this correlated: same place
OTHER_REGION_CORR = 0.3  # ... this little correlated: somewhere else
CAM_PATTERN_MIN = 0.15  # share of errors showing a Grad-CAM pattern


def map_correlation(run) -> np.ndarray:
    """Per error: Pearson correlation of the displayed true-class and predicted-class Grad-CAMs."""
    c, wrong = run.cache, ~run.correct
    e = int(wrong.sum())
    t = display_cam(c.cam_true[wrong], c.image_size).reshape(e, -1).astype(np.float64)
    p = display_cam(c.cam_topk[wrong, 0], c.image_size).reshape(e, -1).astype(np.float64)
    t -= t.mean(axis=1, keepdims=True)
    p -= p.mean(axis=1, keepdims=True)
    den = np.sqrt((t * t).sum(axis=1) * (p * p).sum(axis=1))
    return np.divide((t * p).sum(axis=1), den, out=np.zeros(len(den)), where=den > 0)


def map_regions(run) -> list[Finding]:
    corr, e = map_correlation(run), run.metrics.num_errors
    out = []
    for key, selected, threshold in (("same_region", corr >= SAME_REGION_CORR, SAME_REGION_CORR),
                                     ("other_region", corr < OTHER_REGION_CORR, OTHER_REGION_CORR)):
        n = int(selected.sum())
        if n >= MIN_ERRORS and n / e >= CAM_PATTERN_MIN:
            counts = class_counts(run, selected)[:LIST_LIMIT]
            facts = {"count": n, "errors": e, "threshold": threshold, "classes": counts}
            out.append(Finding(key, n / e, n, facts, tuple(c for c, _ in counts)))
    return out
