"""What every rule shares: the Finding it returns and the thresholds that apply to all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.analysis.stats import Estimate

MIN_ERRORS = 5  # never advise on fewer errors than this
LIST_LIMIT = 5  # classes, pairs or images cited in one piece of evidence


@dataclass(frozen=True)
class Finding:
    key: str  # the rule that fired (and the wording that speaks for it)
    share_of_errors: float  # share of this run's errors the advice addresses, in [0, 1]
    errors_addressed: int
    facts: dict[str, Any] = field(default_factory=dict)  # the numbers the evidence cites
    classes: tuple[int, ...] = ()  # class ids worth opening (class figures, the TUI)


def beats(statistic: Estimate, baseline: Estimate) -> bool:
    """The one test every claim passes before it is made: its 95% interval lies wholly above its baseline's.
    A statistic equal to its baseline, or without one, is never advised on."""
    return statistic.above(baseline)


def maps_trusted(run) -> bool:
    """Grad-CAM advice needs maps that pass the random-logit sanity check (engine.analysis.sanity), and the
    model-randomisation one where --faithfulness ran it; a check that cannot run is not held against them."""
    randomised = run.model_randomisation
    return ((not run.sanity.available or run.sanity.depends_on_class)
            and (not randomised.available or randomised.depends_on_weights))


def class_counts(run, selected: np.ndarray) -> list[tuple[int, int]]:
    """(class id, count) of the true classes of the selected errors (a mask over the errors, in image
    order), most frequent first, ties by class id."""
    labels = run.cache.labels[~run.correct][selected]
    counts = np.bincount(labels, minlength=run.cache.num_classes)
    return [(int(i), int(counts[i])) for i in np.lexsort((np.arange(len(counts)), -counts)) if counts[i] > 0]
