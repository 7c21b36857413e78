"""The model is often confidently wrong: its confidence needs calibrating."""

from __future__ import annotations

from engine.analysis.calibration import HIGH_CONFIDENCE
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding

OVERCONFIDENT_MIN = 0.10  # share of errors made at >= HIGH_CONFIDENCE


def overconfidence(run) -> Finding | None:
    """Confidently wrong answers, with the calibration figures the reports print."""
    cal, e = run.calibration, run.metrics.num_errors
    n = len(cal.high_conf_errors)
    if n < MIN_ERRORS or n / e < OVERCONFIDENT_MIN:
        return None
    conf, right = run.cache.confidence.astype("float64"), run.correct
    facts = {
        "ece": cal.ece, "bins": len(cal.reliability.counts), "temperature": cal.temperature,
        "ece_after": cal.ece_after, "count": n, "errors": e, "threshold": HIGH_CONFIDENCE,
        "mean_confidence_wrong": float(conf[~right].mean()),
        "mean_confidence_right": float(conf[right].mean()) if right.any() else float("nan"),
    }
    classes = tuple(dict.fromkeys(int(run.cache.labels[i]) for i in cal.high_conf_errors))[:LIST_LIMIT]
    return Finding("overconfidence", n / e, n, facts, classes)
