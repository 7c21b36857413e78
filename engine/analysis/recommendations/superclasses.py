"""Errors stay among sibling classes of the same superclass, far more often than chance."""

from __future__ import annotations

import numpy as np

from engine.analysis.recommendations.base import MIN_ERRORS, Finding

WITHIN_SUPERCLASS_MIN = 0.25  # share of errors inside the true superclass


def within_superclass(run) -> Finding | None:
    c, m = run.cache, run.metrics
    if m.superclass is None or m.errors_within_superclass is None or c.class_to_superclass is None:
        return None
    share, e = m.errors_within_superclass, m.num_errors
    n = int(round(share * e))
    sizes = np.bincount(c.class_to_superclass, minlength=len(c.superclass_names or []))
    # the share a uniformly random wrong class would land in the true superclass
    chance = float((sizes * (sizes - 1)).sum() / max(1, (sizes * (c.num_classes - 1)).sum()))
    if n < MIN_ERRORS or share < max(WITHIN_SUPERCLASS_MIN, 2 * chance):
        return None
    sc = m.superclass.frame.sort_values(["errors_within_superclass", "superclass_id"], ascending=[False, True])
    top = [(int(r.superclass_id), int(r.errors_within_superclass), int(r.errors))
           for r in sc.head(3).itertuples() if r.errors_within_superclass > 0]
    worst_members = tuple(int(i) for i in np.nonzero(np.isin(c.class_to_superclass, sc.head(1)["superclass_id"]))[0])
    facts = {"within": n, "errors": e, "share": share, "chance": chance, "top": top}
    return Finding("within_superclass", share, n, facts, worst_members)
