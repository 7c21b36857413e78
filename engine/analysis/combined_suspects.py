"""One label-suspect list from several runs on the same test set (`gradcam-batch suspects`): the runs'
probabilities averaged and ranked as one run's are (engine.analysis.label_suspects), with how many runs
flag each image on their own. Runs on different test sets are refused as `compare` refuses them. The
list it writes is read back for the TUI's suspects view and review (`gradcam-tui CACHE --suspects CSV`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analysis.compare import check_same_test_set
from engine.analysis.label_suspects import AMBIGUOUS_P, STRONG_MARGIN, ranked_suspects
from engine.analysis.tables import Table
from engine.errors import UserError
from engine.store import RunCache

CSV_COLUMNS = ("image", "given_id", "suggested_id", "p_given", "p_suggested", "margin", "threshold")


def combined_suspects(caches: list[RunCache]) -> Table:
    first = caches[0]
    for other in caches[1:]:
        check_same_test_set(first, other)
    return ranked_suspects([c.probs for c in caches], first.labels, list(first.class_names))


def read_suspects_csv(path: Path, cache: RunCache) -> Table:
    """A label_suspects.csv (of this run's report, or of `gradcam-batch suspects` over several runs) as the
    run's suspect table, in its order; one sentence when it is not a list of this test set's images."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable label_suspects.csv ({type(exc).__name__}).") from None
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: not a label_suspects.csv (no column {', '.join(missing)}).")
    try:
        image = frame["image"].to_numpy(dtype=np.int64)
        given, suggested = frame["given_id"].to_numpy(dtype=np.int64), frame["suggested_id"].to_numpy(dtype=np.int64)
        numbers = {c: frame[c].to_numpy(dtype=np.float64) for c in ("p_given", "p_suggested", "margin", "threshold")}
    except (ValueError, TypeError):
        raise UserError(f"{path}: its image, class and probability columns must be numbers.") from None
    n, c = cache.num_images, cache.num_classes
    if ((image < 0) | (image >= n)).any() or ((suggested < 0) | (suggested >= c)).any():
        raise UserError(f"{path}: it names images or classes this cache of {n} images and {c} classes does not have.")
    if not np.array_equal(given, cache.labels[image]):
        raise UserError(f"{path}: its given labels are not this cache's; it lists the suspects of another test set.")
    agreeing = frame["runs_agreeing"].to_numpy() if "runs_agreeing" in frame.columns else np.ones(len(image), int)
    names = list(cache.class_names)
    return Table({
        "rank": np.arange(1, len(image) + 1), "image": image,
        "given_id": given, "given": [names[k] for k in given],
        "suggested_id": suggested, "suggested": [names[k] for k in suggested],
        **{k: numbers[k] for k in ("p_given", "p_suggested", "margin", "threshold")},
        "strong": numbers["margin"] >= STRONG_MARGIN,
        "runs_agreeing": np.asarray(agreeing, dtype=np.int64),
        "ambiguous": np.minimum(numbers["p_given"], numbers["p_suggested"]) >= AMBIGUOUS_P,
    })
