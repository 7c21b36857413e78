"""class_{id:03d}_{name}.png: one class's worst 5 and best 3 predictions with Grad-CAM, as one image."""

from __future__ import annotations

from pathlib import Path

from engine.analysis import LOW_CONFIDENCE_CORRECT, MISCLASSIFIED
from engine.cache import RunCache
from engine.reports import panels
from engine.reports.filenames import class_figure_name, inside
from engine.reports.formatting import accuracy_line, pct
from engine.reports.sheet import GREEN, GREY, RED, Legend, Panel, Row, Sheet, Text, save_png

AMBER = (170, 100, 0)


def worst_line(kinds: list[int]) -> str:
    """'Worst predictions: 5 — misclassified 3, low-confidence correct 2'."""
    n_wrong = sum(k == MISCLASSIFIED for k in kinds)
    n_low = sum(k == LOW_CONFIDENCE_CORRECT for k in kinds)
    return f"Worst predictions: {len(kinds)} — misclassified {n_wrong}, low-confidence correct {n_low}"


def _misclassified_row(cache: RunCache, i: int, rank: int) -> Row:
    names = cache.class_names
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
        panels=[
            Panel(panels.original(cache, i), "Original", f"true: {names[t]}"),
            Panel(panels.cam_overlay(cache, i, t), "Grad-CAM (True)", f"{names[t]} {pct(pt)}"),
            Panel(panels.cam_overlay(cache, i, p), "Grad-CAM (Pred)", f"{names[p]} {pct(pp)}", RED),
            Panel(panels.cam_heatmap(cache, i, p), "Heatmap (Pred)", f"{names[p]}", RED),
        ],
    )


def _correct_row(cache: RunCache, i: int, heading: str, kind: str, color) -> Row:
    names = cache.class_names
    c = int(cache.labels[i])
    conf = float(cache.probs[i, c])
    return Row(
        label=[
            Text(heading, 14, True, color),
            Text(kind, 13, True, color),
            Text(f"image {i}", 13, color=GREY),
            Text(f"true = pred: {names[c]}", 13),
            Text(f"confidence {pct(conf)}", 13, color=color),
        ],
        panels=[
            Panel(panels.original(cache, i), "Original", f"true: {names[c]}"),
            Panel(panels.cam_overlay(cache, i, c), "Grad-CAM overlay", f"{names[c]} {pct(conf)}", color),
            Panel(panels.cam_heatmap(cache, i, c), "Heatmap only", names[c]),
        ],
    )


def class_sheet(cache: RunCache, class_id: int) -> Sheet:
    a = cache.analysis
    row = a.per_class.iloc[class_id]
    worst = a.worst_of(class_id)
    best = a.best_of(class_id)
    name = cache.class_names[class_id]
    title = f"Class {class_id:03d}: {name}"
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
        Text(worst_line([k for _, k in worst]), 14),
        Text(details, 13, color=GREY),
        Legend("Grad-CAM (min-max per image, overlays at alpha 0.5):", panels.jet_bar(160, 12), "low", "high"),
        10,
        Text("Worst predictions", 16, True),
    )
    if not worst:
        sheet.add(Text("No test images of this class.", 13, color=GREY))
    for rank, (i, kind) in enumerate(worst, 1):
        if kind == MISCLASSIFIED:
            sheet.add(_misclassified_row(cache, i, rank))
        else:
            sheet.add(_correct_row(cache, i, f"Worst #{rank}", "low-confidence correct", AMBER))
    sheet.add(6, Text(f"Best predictions: {len(best)} — highest-confidence correct", 16, True))
    if not best:
        sheet.add(Text("No image of this class was classified correctly.", 13, color=GREY))
    for rank, i in enumerate(best, 1):
        sheet.add(_correct_row(cache, i, f"Best #{rank}", "high-confidence correct", GREEN))
    return sheet


def write_class_figure(cache: RunCache, class_id: int, out_dir: Path) -> Path:
    """Write class_{id:03d}_{safe name}.png into out_dir (created if needed); returns its path."""
    if not 0 <= class_id < cache.num_classes:
        raise ValueError(f"class id {class_id} is out of range 0..{cache.num_classes - 1}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = inside(out_dir, class_figure_name(class_id, cache.class_names[class_id]))
    return save_png(class_sheet(cache, class_id).render(), target)
