"""What the views say, worded from an AnalysedRun alone (no Textual), so it is cheap to test and reuse.

Every number comes from engine.analysis and every example from engine.figures (the definitions the PNG and
CSV reports use); this module only words them for the terminal: the class header lines of the notebook, an
example's caption, and which Grad-CAM targets an example can be drawn for.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.any_class_maps import stores_any_class, why_not_any_class
from engine.analysis.faithfulness import MIN_IMAGES
from engine.analysis.metrics import confused_pairs_columns
from engine.analysis.tables import Table
from engine.figures.examples import worst_line
from engine.console import visible, visible_tree
from engine.figures.numbers import accuracy_line, pct


def for_terminal(run: AnalysedRun) -> AnalysedRun:
    """The run as the app shows it: class and superclass names and every metadata string made visible()
    (engine.console), so no control character from the file reaches the terminal through any view. The
    numbers are the cache's own; the run itself is returned when nothing needs escaping (its analyses are
    then shared with the PNGs `w` writes)."""
    cache = run.cache
    names = [visible(n) for n in cache.class_names]
    supers = None if cache.superclass_names is None else [visible(n) for n in cache.superclass_names]
    meta = visible_tree(cache.meta)
    if names == list(cache.class_names) and supers == cache.superclass_names and meta == cache.meta:
        return run
    return AnalysedRun(dataclasses.replace(cache, class_names=names, superclass_names=supers, meta=meta))


def least_accurate(run: AnalysedRun) -> int:
    """The class the Class view opens on: where it hurts most (ties: the lower id; no images: last)."""
    pc = run.metrics.per_class
    return int(pc["class_id"][np.lexsort((pc["class_id"], pc["accuracy"]))[0]]) if len(pc) else 0


def class_header(run: AnalysedRun, c: int) -> list[str]:
    """The notebook's header lines for class c (plain text, no markup)."""
    pc = run.metrics.per_class
    kinds = [k for _, k in run.selections.worst_of(c)]
    sup = f" · superclass {pc['superclass'][c]}" if pc["superclass"][c] else ""
    lines = [
        f"Class {c}: {run.class_names[c]}{sup}",
        accuracy_line(int(pc["correct"][c]), int(pc["support"][c])),
        worst_line(kinds),
    ]
    wrong = run.metrics.confusion[c].copy()
    wrong[c] = 0
    order = [int(j) for j in np.argsort(-wrong, kind="stable") if wrong[j] > 0][:5]
    listed = ", ".join(f"{run.class_names[j]} ({wrong[j]})" for j in order) if order else "none"
    lines.append(f"Most common misclassifications: {listed}")
    return lines


def default_target(run: AnalysedRun, i: int) -> int:
    """The class whose Grad-CAM an example shows first: the prediction (the true class when it is right)."""
    return int(run.cache.preds[i])


def next_target(run: AnalysedRun, i: int, current: int) -> int:
    """Cycle through the classes the cache holds a Grad-CAM for: prediction, other top-k, true class."""
    order = [int(c) for c in run.cache.topk_classes[i]]
    truth = int(run.cache.labels[i])
    if truth not in order:
        order.append(truth)
    k = order.index(current) if current in order else -1
    return order[(k + 1) % len(order)]


def step_any_target(run: AnalysedRun, current: int, delta: int = 1) -> int | None:
    """The next class by id (any class, wrapping), where the cache can draw any class's map; else None
    (why_not_target says why)."""
    if not stores_any_class(run.cache):
        return None
    return (current + delta) % run.cache.num_classes


def why_not_target(run: AnalysedRun) -> str:
    return why_not_any_class(run.cache)


def can_draw(run: AnalysedRun, i: int, cls: int) -> bool:
    """Whether image i's map of class cls can be drawn: stored (true, top-k) or any class's."""
    return run.cache.cam_for(i, cls) is not None or stores_any_class(run.cache)


def confused_with(run: AnalysedRun, i: int, target: int) -> int:
    """The class `g` jumps to from image i: the shown target if it is not the true class, else the
    prediction if wrong, else the runner-up."""
    cache = run.cache
    truth = int(cache.labels[i])
    if target != truth:
        return target
    if int(cache.preds[i]) != truth:
        return int(cache.preds[i])
    top = [int(c) for c in cache.topk_classes[i] if int(c) != truth]
    return top[0] if top else truth


def example_caption(run: AnalysedRun, i: int) -> str:
    """True class, prediction and confidence of image i, as the figures caption it."""
    cache = run.cache
    t, p = int(cache.labels[i]), int(cache.preds[i])
    return (
        f"image #{i} · true: {run.class_names[t]} · predicted: {run.class_names[p]} "
        f"({pct(float(cache.confidence[i]))})"
    )


@lru_cache(maxsize=4)
def all_pairs(run: AnalysedRun) -> Table:
    """Every confused pair (true -> predicted, at least one image), ranked as the reports rank their top 15
    (engine.analysis.metrics: count, then mean confidence, then name), so the first 15 are the same pairs."""
    c = run.cache
    return Table(confused_pairs_columns(c.labels, c.preds, c.confidence.astype(np.float64), run.metrics.confusion,
                                        c.class_names, c.class_to_superclass, top=None))


def pair_rank(run: AnalysedRun, true_id: int, pred_id: int) -> int | None:
    """The rank (1-based) of the confused pair true_id -> pred_id among all pairs, or None (no such error)."""
    cp = all_pairs(run)
    hit = np.nonzero((cp["true_id"] == true_id) & (cp["pred_id"] == pred_id))[0]
    return int(cp["rank"][hit[0]]) if len(hit) else None


def class_groups(run: AnalysedRun) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Classes in display order and their groups as (start, stop, name): by superclass (then id) when the run
    has superclasses, as the report's confusion matrix groups them; else blocks of about sqrt(C) classes in
    id order, so a large matrix can still be zoomed block by block."""
    c = run.cache
    n = c.num_classes
    if not c.has_superclasses:
        step = max(int(round(np.sqrt(n))), 1)
        return np.arange(n), [(s, min(s + step, n), f"classes {s}-{min(s + step, n) - 1}") for s in range(0, n, step)]
    c2s = np.asarray(c.class_to_superclass)
    order = np.lexsort((np.arange(n), c2s))
    blocks, start = [], 0
    for k in range(1, n + 1):
        if k == n or c2s[order[k]] != c2s[order[start]]:
            blocks.append((start, k, c.superclass_names[int(c2s[order[start]])]))
            start = k
    return order, blocks


def faith_cell(n: int, gap: float, low: float, high: float) -> str:
    """The gap with its interval; with too few sampled images to rank, the gap and how many."""
    if not n:
        return ""
    if n < MIN_IMAGES:
        return f"{gap:.2f} (n={n})"
    return f"{gap:.2f} [{low:.2f},{high:.2f}]"
