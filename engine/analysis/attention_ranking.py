"""The one ranking of classes by attention: the printout, analysis_summary.txt, attention_per_class.csv,
the recommendations and the TUI all read it from here.

Statistic, per class c: over the errors that involve c (c is the truth and the model said something else,
or the model said c and the truth is something else), the share in which the Grad-CAM *of c* has
background focus above attention.BACKGROUND_FLAG: where the model looks for c when c is part of an error.
A class learnt from its background shows up in both directions.

Baseline: the same share over every error of the run (each error once through its true class's map and
once through its predicted class's map). A class is ranked only when it is involved in at least
MIN_INVOLVED errors and its 95% bootstrap interval lies wholly above the baseline's; ranked classes are
ordered by their share (ties by class id). Every other class is listed with its numbers but unranked:
its focus does not differ from the run's by more than noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.attention import BACKGROUND_FLAG, Attention
from engine.analysis.stats import Estimate, estimate
from engine.analysis.tables import Columns

MIN_INVOLVED = 10


@dataclass(frozen=True)
class AttentionRanking:
    share: tuple[Estimate, ...]  # per class id
    baseline: Estimate  # over every error of the run
    order: tuple[int, ...]  # ranked class ids, most background first

    def rank_of(self, c: int) -> int:
        """1-based rank of class c, 0 when it is not ranked."""
        return self.order.index(c) + 1 if c in self.order else 0

    def columns(self) -> Columns:
        """Per class (class id order): the statistic, its interval, the baseline and the rank (0 = unranked)."""
        n = len(self.share)
        return {
            "background_rank": np.array([self.rank_of(c) for c in range(n)], dtype=np.int64),
            "errors_involving_background_low": np.array([e.low for e in self.share]),
            "errors_involving_background_high": np.array([e.high for e in self.share]),
            "errors_involving_background_baseline": np.full(n, self.baseline.value),
            "errors_involving_background_baseline_low": np.full(n, self.baseline.low),
            "errors_involving_background_baseline_high": np.full(n, self.baseline.high),
        }


def rank(att: Attention, labels: np.ndarray, preds: np.ndarray, num_classes: int) -> AttentionRanking:
    wrong = labels != preds
    missed = att.background_focus_true[wrong] > BACKGROUND_FLAG  # the true class's map, by true class
    alarm = att.background_focus[wrong] > BACKGROUND_FLAG  # the predicted class's map, by predicted class
    t, p = labels[wrong], preds[wrong]
    share = tuple(estimate(np.concatenate([missed[t == c], alarm[p == c]])) for c in range(num_classes))
    baseline = estimate(np.concatenate([missed, alarm]))
    ranked = [c for c, e in enumerate(share) if e.n >= MIN_INVOLVED and e.above(baseline)]
    order = tuple(sorted(ranked, key=lambda c: (-share[c].value, c)))
    return AttentionRanking(share, baseline, order)
