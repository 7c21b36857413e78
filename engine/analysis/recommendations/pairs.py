"""Class pairs: a few that take a large bite out of single classes, and classes confused both ways."""

from __future__ import annotations

import numpy as np

from engine.analysis.recommendations.base import MIN_ERRORS, Finding

PAIR_SHARE_MIN = 0.10  # a pair matters when it takes this share of the true class
MUTUAL_SHARE_MIN = 0.05  # both directions at least this share of their true class (and 3 images)


def strong_pairs(run) -> Finding | None:
    pairs, e = run.metrics.confused_pairs, run.metrics.num_errors
    keep = (np.asarray(pairs["share_of_true"]) >= PAIR_SHARE_MIN) & (np.asarray(pairs["count"]) >= 3)
    rows = [(int(t), int(p), int(k), float(s)) for t, p, k, s, ok in
            zip(pairs["true_id"], pairs["pred_id"], pairs["count"], pairs["share_of_true"], keep) if ok]
    n = sum(k for _, _, k, _ in rows)
    if not rows or n < MIN_ERRORS:
        return None
    classes = tuple(dict.fromkeys(x for t, p, _, _ in rows for x in (t, p)))
    return Finding("strong_pairs", n / e, n, {"pairs": rows, "count": n, "errors": e}, classes)


def mutual_pairs(run) -> Finding | None:
    conf, e = run.metrics.confusion, run.metrics.num_errors
    support = np.maximum(conf.sum(axis=1), 1)
    share = conf / support[:, None]
    ok = (conf >= 3) & (share >= MUTUAL_SHARE_MIN)
    np.fill_diagonal(ok, False)
    both = np.triu(ok & ok.T)
    ij = sorted(((int(i), int(j)) for i, j in zip(*np.nonzero(both))),
                key=lambda t: (-(conf[t] + conf[t[::-1]]), t))
    n = int(sum(conf[i, j] + conf[j, i] for i, j in ij))
    if not ij or n < MIN_ERRORS:
        return None
    rows = [(i, j, int(conf[i, j]), int(conf[j, i])) for i, j in ij]
    classes = tuple(dict.fromkeys(x for t in ij for x in t))
    return Finding("mutual_pairs", n / e, n, {"pairs": rows, "count": n, "errors": e}, classes)
