"""One label-suspect list from several runs on the same test set (`gradcam-batch suspects`): the runs'
probabilities averaged and ranked as one run's are (engine.analysis.label_suspects), with how many runs
flag each image on their own. Runs on different test sets are refused as `compare` refuses them."""

from __future__ import annotations

from engine.analysis.compare import check_same_test_set
from engine.analysis.label_suspects import ranked_suspects
from engine.analysis.tables import Table
from engine.store import RunCache


def combined_suspects(caches: list[RunCache]) -> Table:
    first = caches[0]
    for other in caches[1:]:
        check_same_test_set(first, other)
    return ranked_suspects([c.probs for c in caches], first.labels, list(first.class_names))
