"""confused_pair_{rank}_{true}_to_{pred}.png: examples of one confused pair with both Grad-CAMs and their
difference, as one image."""

from __future__ import annotations

from pathlib import Path

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.colours import diverging_bar, jet_bar
from engine.figures.examples import pair_examples
from engine.figures.numbers import pct
from engine.figures.panels import cam_caption, contrast_caption, pair_example_panels
from engine.reports.filenames import inside, pair_figure_name
from engine.reports.sheet import GREY, RED, Legend, Row, Sheet, Text, save_png

EXAMPLES_PER_PAIR = 4
TOP_PAIR_FIGURES = 5
BLUE = (30, 70, 170)
TONES = {"true": BLUE, "pred": RED}


def _example_row(run: AnalysedRun, i: int, n: int, t: int, p: int) -> Row:
    cache, names = run.cache, run.class_names
    pt, pp = float(cache.probs[i, t]), float(cache.probs[i, p])
    return Row(
        label=[
            Text(f"Example {n}", 14, True),
            Text(f"image {i}", 13, color=GREY),
            Text(f"true: {names[t]}  {pct(pt)}", 13, color=BLUE),
            Text(f"pred: {names[p]}  {pct(pp)}", 13, color=RED),
        ],
        panels=pair_example_panels(cache, i, t, p),
        tones=TONES,
    )


def pair_row(run: AnalysedRun, rank: int):
    """Row `rank` (1-based) of the run's most confused pairs."""
    pairs = run.metrics.confused_pairs
    if not 1 <= rank <= len(pairs):
        raise ValueError(f"confused pair rank {rank} is out of range 1..{len(pairs)}")
    return pairs.frame.iloc[rank - 1]


def pair_sheet(run: AnalysedRun, rank: int) -> Sheet:
    cache, names = run.cache, run.class_names
    row = pair_row(run, rank)
    t, p = int(row["true_id"]), int(row["pred_id"])
    support = int(run.metrics.per_class["support"][t])
    examples = pair_examples(cache, t, p, EXAMPLES_PER_PAIR)
    same = ""
    if cache.has_superclasses:
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
        Legend(cam_caption(run.cache.meta), jet_bar(160, 12), "low", "high"),
        Legend(
            "Pred − True (both maps on one scale, over a grey image):",
            diverging_bar(160, 12),
            f"more {names[t]}",
            f"more {names[p]}",
        ),
    )
    if contrast_caption(cache):
        sheet.add(Text(contrast_caption(cache), 13, color=GREY))
    sheet.add(10)
    for n, i in enumerate(examples, 1):
        sheet.add(_example_row(run, i, n, t, p))
    return sheet


def write_pair_figure(run: AnalysedRun, rank: int, out_dir: Path, name: str | None = None) -> Path:
    """Write confused_pair_{rank}_{true}_to_{pred}.png (or `name`; rank is 1-based into the confused pairs)."""
    sheet = pair_sheet(run, rank)
    row = pair_row(run, rank)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or pair_figure_name(rank, run.class_names[int(row["true_id"])], run.class_names[int(row["pred_id"])])
    return save_png(sheet.render(), inside(out_dir, name))
