"""Some test labels may be wrong: the strongest label suspects deserve a review."""

from __future__ import annotations

import numpy as np

from engine.analysis.label_suspects import STRONG_MARGIN
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding


def label_noise(run) -> Finding | None:
    """Test images whose given label the model all but excludes (strong label suspects); each one is an error.

    Only the strong suspects (margin >= 0.9) count as evidence: a model that is often confidently wrong
    makes many weaker candidates, and those say more about the model than about the labels."""
    sus = run.suspects
    strong = np.nonzero(np.asarray(sus["strong"], dtype=bool))[0]
    n = len(strong)
    if n < MIN_ERRORS:
        return None
    top = [(int(sus["image"][k]), int(sus["given_id"][k]), int(sus["suggested_id"][k]), float(sus["p_given"][k]),
            float(sus["p_suggested"][k])) for k in strong[:LIST_LIMIT]]
    facts = {"count": n, "images": run.cache.num_images, "candidates": len(sus), "margin": STRONG_MARGIN,
             "top": top}
    classes = tuple(dict.fromkeys(int(sus["given_id"][k]) for k in strong))[:LIST_LIMIT]
    return Finding("label_noise", n / run.metrics.num_errors, n, facts, classes)
