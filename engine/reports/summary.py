"""analysis_summary.txt: the run in plain text (accuracy, worst classes, confusions, superclasses, metadata)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.calibration import HIGH_CONFIDENCE
from engine.analysis.selections import LOW_CONFIDENCE_CORRECT, MISCLASSIFIED
from engine.analysis.attention_ranking import MIN_INVOLVED
from engine.figures.numbers import pct, pct_interval
from engine.reports.recommendations_checks import (faithfulness_sentences, map_agreement_sentences,
                                                   randomisation_sentence, sanity_sentence, suspect_sentences)
from engine.store.atomic import write_text

WORST_CLASSES = 10
BEST_CLASSES = 5
TOP_SUSPECTS = 10
BACKGROUND_CLASSES = 10
LEAST_FAITHFUL = 10
FAITHFUL_PAIRS = 10


def _heading(title: str) -> list[str]:
    return ["", title, "-" * len(title)]


def _flatten(meta: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Metadata as 'a.b.c: value' pairs, in the cache's key order (whatever keys a run stored)."""
    if isinstance(meta, dict):
        out = []
        for k, v in meta.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        if not out and prefix:
            out = [(prefix, "{}")]
        return out
    if isinstance(meta, float):
        return [(prefix, f"{meta:.4g}")]
    return [(prefix, str(meta))]


def worst_classes(run: AnalysedRun, n: int = WORST_CLASSES):
    """Lowest accuracy first (ties by class id); classes without test images are left out."""
    pc = run.metrics.per_class.frame
    return pc[pc["accuracy"].notna()].sort_values(["accuracy", "class_id"], kind="mergesort").head(n)


def best_classes(run: AnalysedRun, n: int = BEST_CLASSES):
    pc = run.metrics.per_class.frame
    return pc[pc["accuracy"].notna()].sort_values(["accuracy", "class_id"], ascending=[False, True]).head(n)


def _class_lines(rows, width: int) -> list[str]:
    lines = []
    for k, r in enumerate(rows.itertuples(), 1):
        sup = f" [{r.superclass}]" if r.superclass else ""
        wrong = f"; most often mistaken for {r.top_wrong_prediction} ({r.top_wrong_count})" if r.top_wrong_count else ""
        lines.append(
            f"{k:>4}. {r.class_name:<{width}} {pct(r.accuracy):>6}  ({r.correct}/{r.support}){sup}{wrong}"
        )
    return lines


def summary_text(run: AnalysedRun) -> str:
    cache, a, sel = run.cache, run.metrics, run.selections
    n_err = a.num_errors
    wrong = cache.labels != cache.preds
    conf = cache.confidence
    width = min(28, max((len(s) for s in cache.class_names), default=8))
    lines = ["GRAD-CAM ERROR ANALYSIS — SUMMARY", "=" * 33]

    lines += _heading("Overall")
    lines += [
        f"Images:          {a.num_images}",
        f"Classes:         {cache.num_classes}"
        + (f" in {len(cache.superclass_names)} superclasses" if cache.superclass_names else ""),
        f"Top-1 accuracy:  {a.top1:.2%} ({a.num_correct}/{a.num_images} correct)",
        f"Top-5 accuracy:  {a.top5:.2%}",
        f"Errors:          {n_err}",
    ]
    if a.num_images:
        lines.append(
            f"Mean confidence: {pct(float(conf.mean()))} overall, "
            f"{pct(float(conf[~wrong].mean())) if (~wrong).any() else 'n/a'} when right, "
            f"{pct(float(conf[wrong].mean())) if wrong.any() else 'n/a'} when wrong"
        )
    if run.tta is not None:
        lines += run.tta.lines()
    kinds = sel.worst_kind[sel.worst_kind >= 0]
    lines.append(
        f"Worst predictions selected: {int(kinds.size)} (misclassified {int((kinds == MISCLASSIFIED).sum())}, "
        f"low-confidence correct {int((kinds == LOW_CONFIDENCE_CORRECT).sum())}); "
        f"best predictions selected: {int((sel.best_idx >= 0).sum())}"
    )

    lines += _heading(f"Worst {WORST_CLASSES} classes by accuracy")
    lines += _class_lines(worst_classes(run), width)
    lines += _heading(f"Best {BEST_CLASSES} classes by accuracy")
    lines += _class_lines(best_classes(run), width)

    pairs = a.confused_pairs.frame
    lines += _heading(f"Main confusion patterns (top {len(pairs)} pairs: true -> predicted)")
    if pairs.empty:
        lines.append("No misclassified images.")
    for r in pairs.itertuples():
        same = " [same superclass]" if (cache.class_to_superclass is not None and r.same_superclass) else ""
        lines.append(
            f"{r.rank:>4}. {r.true_name} -> {r.pred_name}: {r.count} image{'s' if r.count != 1 else ''} "
            f"({pct(r.share_of_true)} of {r.true_name}), mean confidence {pct(r.mean_confidence)}{same}"
        )
    if not pairs.empty and n_err:
        held = int(pairs["count"].sum())
        lines.append(f"These {len(pairs)} pairs hold {held} of {n_err} errors ({pct(held / n_err)}).")
        conf_m = a.confusion
        mutual = [
            (r.true_name, r.pred_name, int(conf_m[r.true_id, r.pred_id]), int(conf_m[r.pred_id, r.true_id]))
            for r in pairs.itertuples()
            if r.true_id < r.pred_id and ((pairs["true_id"] == r.pred_id) & (pairs["pred_id"] == r.true_id)).any()
        ]
        if mutual:
            lines.append(
                "Confused both ways within the top pairs: "
                + "; ".join(f"{x} <-> {y} ({m} and {k})" for x, y, m, k in mutual)
            )

    if a.superclass is not None:
        lines += _heading("Superclasses")
        if a.errors_within_superclass is not None:
            lines.append(
                f"Errors that stay within the true superclass: {pct(a.errors_within_superclass)} "
                f"({int(a.superclass['errors_within_superclass'].sum())} of {n_err})"
            )
        sw = min(30, max([10, *(len(s) for s in a.superclass["superclass"])]))
        lines.append(f"      {'superclass':<{sw}} {'accuracy':>9} {'superclass acc.':>16} {'errors':>7} {'within':>7}")
        order = a.superclass.frame.sort_values(["accuracy", "superclass_id"], kind="mergesort")
        for k, r in enumerate(order.itertuples(), 1):
            lines.append(
                f"{k:>4}. {r.superclass:<{sw}} {pct(r.accuracy):>9} {pct(r.superclass_accuracy):>16} "
                f"{r.errors:>7} {r.errors_within_superclass:>7}"
            )

    lines += diagnosis_lines(run)

    lines += _heading("Run")
    for key, value in _flatten(cache.meta):
        lines.append(f"{key}: {value}")
    lines.append("")
    return "\n".join(lines)


def calibration_lines(run: AnalysedRun) -> list[str]:
    cal = run.calibration
    n_bins = len(cal.reliability.counts)
    t1, t2 = cal.temperature_folds
    n_hi = len(cal.high_conf_errors)
    return [
        f"ECE ({n_bins} bins): {cal.ece:.4f}   MCE: {cal.mce:.4f}   NLL: {cal.nll:.4f}   Brier: {cal.brier:.4f}",
        f"Temperature scaling (fitted by NLL, 2-fold): T = {t1:.3f} and {t2:.3f} on the two halves, "
        f"{cal.temperature:.3f} on all images",
        f"Held-out after scaling: ECE {cal.ece_after:.4f}, NLL {cal.nll_after:.4f}",
        f"Errors at >= {HIGH_CONFIDENCE:.0%} confidence: {n_hi}",
    ]


def attention_lines(run: AnalysedRun, n: int = BACKGROUND_CLASSES) -> list[str]:
    """The attention ranking (engine.analysis.attention_ranking): the classes that stand out, with intervals."""
    ranking = run.attention_ranking
    where = "denser off the object than on it (data-set masks)" if run.attention.uses_masks else \
        "denser in the outer ring of the image than inside it"
    lines = _paragraphs([
        f"Background focus of a class: over the errors it is part of (as truth or as prediction), the share in "
        f"which its own Grad-CAM is {where}. Baseline, over every error of the run: "
        f"{pct_interval(ranking.baseline)}. A class is ranked when it is part of >= {MIN_INVOLVED} errors and "
        f"its 95% interval lies wholly above the baseline's.",
    ])
    if run.metrics.num_errors == 0:
        return lines + ["No misclassified images."]
    if not ranking.order:
        counted = sum(e.n >= MIN_INVOLVED for e in ranking.share)
        if counted == 0:
            return lines + [f"No class is part of >= {MIN_INVOLVED} errors: too few to rank."]
        return lines + _paragraphs([f"No class stands out: in all {counted} classes part of >= {MIN_INVOLVED} errors "
                                    f"the share is within noise of the baseline."])
    names = [run.class_names[c] for c in ranking.order[:n]]
    width = min(28, max(len(s) for s in names))
    lines.append(f"Classes ranked ({len(ranking.order)}):")
    for k, c in enumerate(ranking.order[:n], 1):
        e = ranking.share[c]
        lines.append(f"{k:>4}. {run.class_names[c]:<{width}} {pct_interval(e)} of {e.n} errors involving it")
    return lines


def _paragraphs(sentences: list[str]) -> list[str]:
    """Long sentences wrapped at 100 columns, each its own paragraph."""
    return [line for s in sentences for line in textwrap.wrap(s, 100, break_on_hyphens=False)]


def map_lines(run: AnalysedRun) -> list[str]:
    randomised = [s for s in (randomisation_sentence(run),) if s]
    if run.metrics.num_errors == 0:
        return _paragraphs([sanity_sentence(run), *randomised]) if randomised else [sanity_sentence(run)]
    return _paragraphs([sanity_sentence(run), *randomised, *map_agreement_sentences(run)])


def faithfulness_lines(run: AnalysedRun, n: int = LEAST_FAITHFUL, n_pairs: int = FAITHFUL_PAIRS) -> list[str]:
    """The sample's numbers, the least faithful classes and the confused pairs, each with its interval."""
    from engine.analysis.faithfulness import least_faithful

    lines = _paragraphs(faithfulness_sentences(run))
    table = run.faithfulness_per_class
    order = least_faithful(table)[:n]
    iv = lambda t, name, k: f"{t[name][k]:.3f} [{t[name + '_low'][k]:.3f}, {t[name + '_high'][k]:.3f}]"  # noqa: E731
    if order:
        width = min(28, max(len(run.class_names[c]) for c in order))
        lines.append(f"Least faithful classes (lowest gap first; {len(least_faithful(table))} ranked):")
        lines.append(f"      {'class':<{width}} {'n':>3}  {'gap':<22} {'deletion AUC':<22} {'insertion AUC':<22} drop")
        for k, c in enumerate(order, 1):
            lines.append(f"{k:>4}. {run.class_names[c]:<{width}} {table['n'][c]:>3}  {iv(table, 'gap', c):<22} "
                         f"{iv(table, 'deletion_auc', c):<22} {iv(table, 'insertion_auc', c):<22} "
                         f"{pct(table['drop'][c])}")
    pairs = run.faithfulness_per_pair
    shown = [k for k in range(len(pairs)) if pairs["n"][k] >= 2][:n_pairs]  # one image has no interval
    if shown:
        lines.append("Top confused pairs with >= 2 sampled errors (pair rank. true -> predicted):")
        for k in shown:
            lines.append(f"{pairs['rank'][k]:>4}. {pairs['true_name'][k]} -> {pairs['pred_name'][k]}: "
                         f"{pairs['n'][k]} image{'s' if pairs['n'][k] != 1 else ''}, gap {iv(pairs, 'gap', k)}, "
                         f"deletion AUC {iv(pairs, 'deletion_auc', k)}, insertion AUC {iv(pairs, 'insertion_auc', k)}")
    return lines


def suspect_lines(run: AnalysedRun, n: int = TOP_SUSPECTS) -> list[str]:
    sus = run.suspects.frame
    lines = [f"Images whose given label the model doubts (confident-learning thresholds): {len(sus)}"]
    if run.metrics.num_images:
        lines += _paragraphs(suspect_sentences(run))
    for r in sus.head(n).itertuples():
        lines.append(
            f"{r.rank:>4}. image {r.image}: {r.given} -> {r.suggested} "
            f"(p {pct(r.p_given)} given, {pct(r.p_suggested)} suggested)"
        )
    return lines


def diagnosis_lines(run: AnalysedRun) -> list[str]:
    return [
        *_heading("Calibration"),
        *calibration_lines(run),
        *_heading("Grad-CAM: sanity check and baselines"),
        *map_lines(run),
        *(_heading("Grad-CAM: faithfulness (deletion / insertion)") + faithfulness_lines(run)
          if run.faithfulness.available else []),
        *_heading("Attention"),
        *attention_lines(run),
        *_heading("Label suspects"),
        *suspect_lines(run),
    ]


def write_summary(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, summary_text(run))

