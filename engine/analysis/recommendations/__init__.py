"""What to change before the next training run: a registry of small rules, each looking for one pattern
in a run and firing only when the pattern is there.

A rule takes an AnalysedRun and returns Findings (base.Finding): the numbers that show the pattern
(counts, shares, class ids), never words; the wording lives in engine.reports.recommendations, one entry
per key. Findings are ranked by the share of this run's errors they address; shares overlap (one error
can be a near miss *and* a sibling-class confusion). A new rule is one module here and one line below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from engine.analysis.recommendations import (
    background,
    calibration,
    classes,
    label_noise,
    map_regions,
    near_misses,
    pairs,
    superclasses,
)
from engine.analysis.recommendations.base import MIN_ERRORS, Finding

if TYPE_CHECKING:
    from engine.analysis.analysed_run import AnalysedRun

Rule = Callable[["AnalysedRun"], "Finding | Iterable[Finding] | None"]

REGISTRY: dict[str, Rule] = {
    "near_misses": near_misses.near_misses,
    "within_superclass": superclasses.within_superclass,
    "map_regions": map_regions.map_regions,  # same_region, other_region
    "background": background.background,
    "strong_pairs": pairs.strong_pairs,
    "mutual_pairs": pairs.mutual_pairs,
    "weak_classes": classes.weak_classes,
    "overconfidence": calibration.overconfidence,
    "label_noise": label_noise.label_noise,
}


def find(run: "AnalysedRun") -> list[Finding]:
    """Every finding this run's evidence supports, ranked by the share of errors it addresses."""
    if run.metrics.num_errors < MIN_ERRORS:
        return []
    found: list[Finding] = []
    for fn in REGISTRY.values():
        out = fn(run)
        if isinstance(out, Finding):
            found.append(out)
        elif out is not None:
            found.extend(out)
    return sorted(found, key=lambda f: (-f.share_of_errors, f.key))
