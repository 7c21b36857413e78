"""The diagnosis files, straight from the run's analyses: reliability_diagram.png, superclass_confusion.png,
label_suspects.csv, attention_per_class.csv, attention_flags.csv, high_confidence_errors.csv and
near_duplicates.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.attention import BACKGROUND_FLAG, DIFFUSE_FLAG
from engine.analysis.tables import Table
from engine.store.atomic import write_text
from engine.reports.mpl import new_figure, plain, save_figure
from engine.reports.tables import to_csv_text

SUSPECT_COLUMNS = ["rank", "image", "given_id", "given", "suggested_id", "suggested", "p_given", "p_suggested",
                   "margin", "threshold", "strong"]
BAR, GAP = "#4a7fb5", "#d95f02"


def suspects_frame(run: AnalysedRun) -> pd.DataFrame:
    """Ranked label suspects (most likely wrong first, engine.analysis.label_suspects)."""
    return run.suspects.frame[SUSPECT_COLUMNS].copy()


def attention_frame(run: AnalysedRun) -> pd.DataFrame:
    return run.attention_per_class.frame.copy()


def attention_flags_frame(run: AnalysedRun) -> pd.DataFrame:
    """Every image whose Grad-CAM (predicted class) is denser on the background than on the object, or spread
    with no focus, with its figures; errors first, then by background focus."""
    cache, att = run.cache, run.attention
    background = att.background_focus > BACKGROUND_FLAG
    diffuse = att.diffuseness > DIFFUSE_FLAG
    idx = np.nonzero(background | diffuse)[0]
    names = np.asarray(cache.class_names, dtype=object)
    df = pd.DataFrame(
        {
            "image": idx,
            "true": names[cache.labels[idx]],
            "predicted": names[cache.preds[idx]],
            "correct": cache.labels[idx] == cache.preds[idx],
            "confidence": cache.confidence[idx],
            "background_focus": att.background_focus[idx],
            "diffuseness": att.diffuseness[idx],
            "true_pred_overlap": att.true_pred_overlap[idx],
            "looks_at_background": background[idx],
            "looks_nowhere_in_particular": diffuse[idx],
        }
    )
    return df.sort_values(["correct", "background_focus", "image"], ascending=[True, False, True], kind="mergesort")


def high_confidence_errors_frame(run: AnalysedRun) -> pd.DataFrame:
    """Errors made at >= 90% confidence, most confident first: where over-confidence (and label noise) shows."""
    cache, idx = run.cache, run.calibration.high_conf_errors
    names = np.asarray(cache.class_names, dtype=object)
    return pd.DataFrame(
        {
            "image": idx,
            "true": names[cache.labels[idx]],
            "predicted": names[cache.preds[idx]],
            "confidence": cache.confidence[idx],
            "p_true": cache.probs[idx, cache.labels[idx]],
        }
    )


def write_high_confidence_errors_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(high_confidence_errors_frame(run)))


def write_attention_flags_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(attention_flags_frame(run)))


def write_suspects_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(suspects_frame(run)))


def write_ranked_suspects_csv(table: Table, target: Path) -> Path:
    """label_suspects.csv of several runs (engine.analysis.label_suspects.ranked_suspects): today's
    columns, then how many runs agree and whether two classes are both plausible."""
    return write_text(target, to_csv_text(table.frame[SUSPECT_COLUMNS + ["runs_agreeing", "ambiguous"]].copy()))


def write_attention_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(attention_frame(run)))


def calibration_title(run: AnalysedRun) -> str:
    cal = run.calibration
    return (
        f"Reliability diagram ({len(cal.reliability.counts)} bins): ECE {cal.ece:.3f} before; "
        f"temperature T={cal.temperature:.2f} → held-out ECE {cal.ece_after:.3f}"
    )


def write_reliability_diagram(run: AnalysedRun, target: Path) -> Path:
    rel = run.calibration.reliability
    fig = new_figure(10, 9, 100)
    ax = fig.add_axes((0.1, 0.36, 0.85, 0.54))
    hist = fig.add_axes((0.1, 0.08, 0.85, 0.2), sharex=ax)
    lo, hi = rel.edges[:-1], rel.edges[1:]
    width = hi - lo
    centre = (lo + hi) / 2
    has = rel.counts > 0
    acc = np.where(has, np.nan_to_num(rel.accuracy), 0.0)
    conf = np.where(has, np.nan_to_num(rel.confidence), centre)
    ax.bar(lo, acc, width=width, align="edge", color=BAR, edgecolor="white", label="accuracy in bin")
    gap_lo, gap_hi = np.minimum(acc, conf), np.maximum(acc, conf)
    ax.bar(lo[has], (gap_hi - gap_lo)[has], bottom=gap_lo[has], width=width[has], align="edge", color=GAP,
           alpha=0.35, edgecolor=GAP, hatch="//", label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="0.3", linewidth=1.2, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy", fontsize=12)
    ax.legend(loc="upper left", fontsize=10, frameon=False)
    ax.tick_params(labelbottom=False)
    hist.bar(lo, rel.counts, width=width, align="edge", color="0.55", edgecolor="white")
    top = max(int(rel.counts.max(initial=0)), 1)
    for x, n in zip(centre, rel.counts):
        if n:
            hist.text(x, n, str(int(n)), ha="center", va="bottom", fontsize=8, color="0.2")
    hist.set_ylim(0, top * 1.3)
    hist.set_xlabel("confidence (top-1 probability)", fontsize=12)
    hist.set_ylabel("images", fontsize=12)
    for a in (ax, hist):
        a.spines[["top", "right"]].set_visible(False)
    fig.suptitle(calibration_title(run), fontsize=13)
    return save_figure(fig, target)


def write_superclass_confusion(run: AnalysedRun, target: Path) -> Path:
    m = run.coarse_confusion
    names = [plain(s) for s in (run.cache.superclass_names or [])]
    n = len(names)
    fig = new_figure(12, 11, 100)
    ax = fig.add_axes((0.24, 0.22, 0.66, 0.68))
    cax = fig.add_axes((0.92, 0.22, 0.015, 0.68))
    img = ax.imshow(m, cmap="YlOrRd", interpolation="nearest")
    fig.colorbar(img, cax=cax).set_label("images", fontsize=11)
    size = float(np.clip(240 / max(n, 1), 7, 12))
    ax.set_xticks(np.arange(n), names, rotation=90, fontsize=size)
    ax.set_yticks(np.arange(n), names, fontsize=size)
    ax.set_xlabel("Predicted superclass", fontsize=12)
    ax.set_ylabel("True superclass", fontsize=12)
    dark = 0.6 * max(int(m.max(initial=0)), 1)
    for i, j in zip(*np.nonzero(m)):
        ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=size * 0.8,
                color="white" if m[i, j] >= dark else "black")
    total = max(int(m.sum()), 1)
    fig.suptitle(f"Superclass confusion: {n} superclasses, superclass accuracy {np.trace(m) / total:.1%}", fontsize=14)
    return save_figure(fig, target)


def near_duplicates_frame(run: AnalysedRun) -> pd.DataFrame:
    """Pairs of test images the model sees as near-copies (engine.analysis.similar_images), closest first,
    with both labels and predictions: a pair with two labels is a labelling question, a pair across a
    train/test split a leak."""
    d, cache = run.near_duplicates, run.cache
    names = np.asarray(cache.class_names, dtype=object)
    a, b = (d.a, d.b) if d is not None else (np.zeros(0, dtype=np.int64),) * 2
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(a) + 1),
            "image_a": a,
            "image_b": b,
            "cosine": d.cosine if d is not None else np.zeros(0, dtype=np.float32),
            "true_a": names[cache.labels[a]],
            "true_b": names[cache.labels[b]],
            "predicted_a": names[cache.preds[a]],
            "predicted_b": names[cache.preds[b]],
            "same_label": cache.labels[a] == cache.labels[b],
        }
    )


def write_near_duplicates_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(near_duplicates_frame(run)))
