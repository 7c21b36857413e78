"""class_{id:03d}_{name}.png: one class's worst 5 and best 3 predictions with Grad-CAM, as one image."""

from __future__ import annotations

from pathlib import Path

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.colours import jet_bar
from engine.figures.examples import class_examples, worst_line
from engine.figures.numbers import accuracy_line, pct
from engine.figures.panels import cam_caption, class_example_panels, contrast_caption
from engine.reports.filenames import class_figure_name, inside
from engine.reports.sheet import GREEN, GREY, INK, RED, Legend, Row, Sheet, Text, save_png

AMBER = (170, 100, 0)
TONES = {"true": INK, "pred": RED, "low": AMBER, "best": GREEN}


def _misclassified_row(run: AnalysedRun, i: int, rank: int) -> Row:
    cache, names = run.cache, run.class_names
    t, p = int(cache.labels[i]), int(cache.preds[i])
    pt, pp = float(cache.probs[i, t]), float(cache.probs[i, p])
    return Row(
        label=[
            Text(f"Worst #{rank}", 14, True, RED),
            Text("misclassified", 13, True, RED),
            Text(f"image {i}", 13, color=GREY),
            Text(f"true: {names[t]}  {pct(pt)}", 13),
            Text(f"pred: {names[p]}  {pct(pp)}", 13, color=RED),
        ],
        panels=class_example_panels(cache, i),
        tones=TONES,
    )


def _correct_row(run: AnalysedRun, i: int, heading: str, kind: str, tone: str) -> Row:
    cache, names = run.cache, run.class_names
    c = int(cache.labels[i])
    color = TONES[tone]
    return Row(
        label=[
            Text(heading, 14, True, color),
            Text(kind, 13, True, color),
            Text(f"image {i}", 13, color=GREY),
            Text(f"true = pred: {names[c]}", 13),
            Text(f"confidence {pct(float(cache.probs[i, c]))}", 13, color=color),
        ],
        panels=class_example_panels(cache, i, tone=tone),
        tones=TONES,
    )


def class_sheet(run: AnalysedRun, class_id: int) -> Sheet:
    row = run.metrics.per_class.frame.iloc[class_id]
    examples = class_examples(run.selections, class_id)
    worst = [e for e in examples if e.group == "worst"]
    best = [e for e in examples if e.group == "best"]
    title = f"Class {class_id:03d}: {run.class_names[class_id]}"
    if row["superclass"]:
        title += f"   (superclass: {row['superclass']})"
    details = (
        f"Precision {pct(row['precision'])} · F1 {pct(row['f1'])} · mean confidence {pct(row['mean_confidence'])}"
    )
    if row["top_wrong_count"] > 0:
        details += f" · most often mistaken for {row['top_wrong_prediction']} ({int(row['top_wrong_count'])}×)"
    sheet = Sheet().add(
        Text(title, 20, True),
        Text(accuracy_line(int(row["correct"]), int(row["support"])), 15, True),
        Text(worst_line([e.kind for e in worst]), 14),
        Text(details, 13, color=GREY),
        Legend(cam_caption(run.cache.meta), jet_bar(160, 12), "low", "high"),
    )
    if contrast_caption(run.cache) and any(e.misclassified for e in worst):
        sheet.add(Text(contrast_caption(run.cache), 13, color=GREY))
    sheet.add(10, Text("Worst predictions", 16, True))
    if not worst:
        sheet.add(Text("No test images of this class.", 13, color=GREY))
    for e in worst:
        if e.misclassified:
            sheet.add(_misclassified_row(run, e.index, e.position))
        else:
            sheet.add(_correct_row(run, e.index, f"Worst #{e.position}", "low-confidence correct", "low"))
    sheet.add(6, Text(f"Best predictions: {len(best)} — highest-confidence correct", 16, True))
    if not best:
        sheet.add(Text("No image of this class was classified correctly.", 13, color=GREY))
    for e in best:
        sheet.add(_correct_row(run, e.index, f"Best #{e.position}", "high-confidence correct", "best"))
    return sheet


def write_class_figure(run: AnalysedRun, class_id: int, out_dir: Path, name: str | None = None) -> Path:
    """Write class_{id:03d}_{safe name}.png (or `name`) into out_dir (created if needed); returns its path."""
    if not 0 <= class_id < run.cache.num_classes:
        raise ValueError(f"class id {class_id} is out of range 0..{run.cache.num_classes - 1}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = inside(out_dir, name or class_figure_name(class_id, run.class_names[class_id]))
    return save_png(class_sheet(run, class_id).render(), target)
