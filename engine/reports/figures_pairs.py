"""confused_pair_{rank}_{true}_to_{pred}.png: examples of one confused pair with both Grad-CAMs and their
difference, as one image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.cache import RunCache
from engine.reports import panels
from engine.reports.filenames import inside, pair_figure_name
from engine.reports.formatting import pct
from engine.reports.sheet import GREY, RED, Legend, Panel, Row, Sheet, Text, save_png

EXAMPLES_PER_PAIR = 4
TOP_PAIR_FIGURES = 5
BLUE = (30, 70, 170)


def pair_examples(cache: RunCache, true_cls: int, pred_cls: int, limit: int = EXAMPLES_PER_PAIR) -> list[int]:
    """Images of true_cls predicted as pred_cls, most confident first (ties: image order)."""
    idx = np.nonzero((cache.labels == true_cls) & (cache.preds == pred_cls))[0]
    order = np.lexsort((idx, -cache.confidence[idx]))
    return [int(i) for i in idx[order][:limit]]


def _example_row(cache: RunCache, i: int, n: int, t: int, p: int) -> Row:
    names = cache.class_names
    pt, pp = float(cache.probs[i, t]), float(cache.probs[i, p])
    diff, rng = panels.cam_difference(cache, i, t, p)
    return Row(
        label=[
            Text(f"Example {n}", 14, True),
            Text(f"image {i}", 13, color=GREY),
            Text(f"true: {names[t]}  {pct(pt)}", 13, color=BLUE),
            Text(f"pred: {names[p]}  {pct(pp)}", 13, color=RED),
        ],
        panels=[
            Panel(panels.original(cache, i), "Original", f"true: {names[t]}"),
            Panel(panels.cam_overlay(cache, i, t), "Grad-CAM (True)", f"{names[t]} {pct(pt)}", BLUE),
            Panel(panels.cam_overlay(cache, i, p), "Grad-CAM (Pred)", f"{names[p]} {pct(pp)}", RED),
            Panel(diff, "Pred − True", f"±{rng:.0%} of peak"),
        ],
    )


def pair_sheet(cache: RunCache, rank: int) -> Sheet:
    pairs = cache.analysis.confused_pairs
    if not 1 <= rank <= len(pairs):
        raise ValueError(f"confused pair rank {rank} is out of range 1..{len(pairs)}")
    row = pairs.iloc[rank - 1]
    t, p = int(row["true_id"]), int(row["pred_id"])
    names = cache.class_names
    support = int(cache.analysis.per_class["support"].iloc[t])
    examples = pair_examples(cache, t, p)
    same = ""
    if cache.class_to_superclass is not None and cache.superclass_names is not None:
        s_t, s_p = (cache.superclass_names[cache.class_to_superclass[c]] for c in (t, p))
        same = f"Same superclass ({s_t})." if s_t == s_p else f"Different superclasses ({s_t} vs {s_p})."
    sheet = Sheet().add(
        Text(f"Confused pair #{rank}: {names[t]} → {names[p]}", 20, True),
        Text(
            f"{int(row['count'])} of {support} {names[t]} images ({pct(float(row['share_of_true']))}) "
            f"were predicted as {names[p]}; mean confidence {pct(float(row['mean_confidence']))}.",
            14,
        ),
        Text(f"{same} Showing the {len(examples)} most confident of these mistakes.".strip(), 13, color=GREY),
        Legend("Grad-CAM (min-max per image, overlays at alpha 0.5):", panels.jet_bar(160, 12), "low", "high"),
        Legend(
            "Pred − True (both maps on one scale, over a grey image):",
            panels.diverging_bar(160, 12),
            f"more {names[t]}",
            f"more {names[p]}",
        ),
        10,
    )
    for n, i in enumerate(examples, 1):
        sheet.add(_example_row(cache, i, n, t, p))
    return sheet


def write_pair_figure(cache: RunCache, rank: int, out_dir: Path) -> Path:
    """Write confused_pair_{rank}_{true}_to_{pred}.png (rank is 1-based into analysis.confused_pairs)."""
    sheet = pair_sheet(cache, rank)
    row = cache.analysis.confused_pairs.iloc[rank - 1]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = pair_figure_name(rank, cache.class_names[int(row["true_id"])], cache.class_names[int(row["pred_id"])])
    return save_png(sheet.render(), inside(out_dir, name))
