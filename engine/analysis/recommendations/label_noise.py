"""Some test labels may be wrong: advised only when there are more strong label suspects than clean labels
would produce (engine.analysis.suspect_precision)."""

from __future__ import annotations

import numpy as np

from engine.analysis.label_suspects import STRONG_MARGIN
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding


def label_noise(run) -> Finding | None:
    """Strong label suspects (margin >= 0.9), in excess of the calibrated null's 95% range. A model that is
    often confidently wrong makes many suspects on clean labels; only the excess is evidence about labels."""
    sus, prec = run.suspects, run.suspect_precision.strong
    strong = np.nonzero(np.asarray(sus["strong"], dtype=bool))[0]
    n = len(strong)
    if n < MIN_ERRORS or not prec.beats_null:
        return None
    top = [(int(sus["image"][k]), int(sus["given_id"][k]), int(sus["suggested_id"][k]), float(sus["p_given"][k]),
            float(sus["p_suggested"][k])) for k in strong[:LIST_LIMIT]]
    facts = {"count": n, "images": run.cache.num_images, "candidates": len(sus), "margin": STRONG_MARGIN,
             "top": top, "null": prec, "draws": run.suspect_precision.draws}
    classes = tuple(dict.fromkeys(int(sus["given_id"][k]) for k in strong))[:LIST_LIMIT]
    likely = int(round(prec.excess))  # the advice addresses the likely wrong labels, not every suspect
    facts["likely"] = likely
    facts["errors"] = run.metrics.num_errors
    return Finding("label_noise", likely / run.metrics.num_errors, likely, facts, classes)
