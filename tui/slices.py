"""Slices: the sets of test images the Images view lists, each a question a user asks of a run.

Every image of a class; of one confusion-matrix cell (any true -> predicted pair, not only the top ones);
every image predicted as a class; all errors; the high-confidence errors, label suspects and attention flags
of the diagnosis files; one image by id; the images most like one image, and the near-duplicate pairs. A slice is named by a SliceSpec (small and hashable: the history
remembers it) and built by slice_of() from an AnalysedRun alone (no Textual), in the order that answers its
question; the sort keys re-order it on request. The definitions are the analyses' own (engine.analysis:
calibration's high-confidence errors, label_suspects, attention's flags); the orders are the reports'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.similar_images import MAX_IMAGES, searchable
from engine.figures.numbers import pct

CLASS, CELL, PREDICTED, ERRORS, CONFIDENT, SUSPECTS, FLAGS, IMAGE = (
    "class", "cell", "predicted", "errors", "confident", "suspects", "flags", "image")
SIMILAR, DUPLICATES = "similar", "duplicates"  # by the pooled features (engine.analysis.similar_images)
NO_FEATURES = "This cache holds no pooled features (it was made before they were stored); run again to compare images."
FAITHLESS = "faithless"
NO_FAITHFULNESS = "No faithfulness measured: run `gradcam-batch run ... --faithfulness`."


@dataclass(frozen=True)
class SliceSpec:
    """Which slice: its kind and up to two class ids (a cell's true and predicted class) or an image id."""

    kind: str
    a: int = -1
    b: int = -1


@dataclass(frozen=True, eq=False)
class Slice:
    """The images of a slice in its own order, what to call it, and per image the label a reviewer is
    offered when the given one is wrong (`suggested`), with an optional extra column (`extra`: header and
    values, e.g. a suspect's margin)."""

    spec: SliceSpec
    title: str
    images: np.ndarray  # int64, the slice's own order
    suggested: np.ndarray  # int64, per image
    extra: tuple[str, np.ndarray] | None = None
    empty: str = "No images in this slice."

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class Sort:
    """A sort key: its name, and the values to sort by ascending (None: the slice's own order)."""

    name: str
    key: Callable[[AnalysedRun, Slice], np.ndarray] | None = field(compare=False, default=None)


def _p_true(run: AnalysedRun, s: Slice) -> np.ndarray:
    c = run.cache
    return c.probs[s.images, c.labels[s.images]]


SORTS: tuple[Sort, ...] = (
    Sort("slice order"),
    Sort("confidence", lambda run, s: -run.cache.confidence[s.images]),
    Sort("p(true)", _p_true),
    Sort("image id", lambda run, s: s.images),
    Sort("true class", lambda run, s: run.cache.labels[s.images]),
    Sort("predicted", lambda run, s: run.cache.preds[s.images]),
)


def sorts_of(s: Slice) -> list[Sort]:
    """The sort keys of slice s: SORTS, and its extra column (largest first) when it has one."""
    return list(SORTS) + ([Sort(s.extra[0], lambda run, sl: -sl.extra[1])] if s.extra else [])


def sorted_order(run: AnalysedRun, s: Slice, sort: Sort, reverse: bool) -> np.ndarray:
    """Positions into s.images in the order asked for (ties keep the slice's order; stable)."""
    n = len(s)
    pos = np.arange(n)
    key = sort.key
    if key is None:
        return pos[::-1].copy() if reverse else pos
    values = np.asarray(key(run, s))
    order = np.lexsort((pos, -values if reverse else values)) if values.dtype.kind in "iuf" else pos
    return order


def runner_up(run: AnalysedRun, images: np.ndarray) -> np.ndarray:
    """The label a reviewer is offered: the prediction where it is wrong, else the model's second choice."""
    c = run.cache
    pred, labels = c.preds[images], c.labels[images]
    second = c.topk_classes[images, 1] if c.topk_classes.shape[1] > 1 else pred
    return np.where(pred != labels, pred, second).astype(np.int64)


def _by_confidence(run: AnalysedRun, idx: np.ndarray, descending: bool = True) -> np.ndarray:
    conf = run.cache.confidence[idx]
    return idx[np.lexsort((idx, -conf if descending else conf))]


def _worst_first(run: AnalysedRun, idx: np.ndarray) -> np.ndarray:
    """Errors by descending confidence, then right answers by ascending confidence (the class page's order
    of its worst predictions, continued over every image)."""
    wrong = run.cache.preds[idx] != run.cache.labels[idx]
    return np.concatenate([_by_confidence(run, idx[wrong]), _by_confidence(run, idx[~wrong], descending=False)])


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _make(run: AnalysedRun, spec: SliceSpec, title: str, images: np.ndarray, **kw) -> Slice:
    images = np.asarray(images, dtype=np.int64)
    suggested = kw.pop("suggested", None)
    return Slice(spec, title, images, runner_up(run, images) if suggested is None else suggested, **kw)


def _class_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    c, names = run.cache, run.class_names
    idx = np.nonzero(c.labels == spec.a)[0]
    errors = int((c.preds[idx] != spec.a).sum())
    title = (f"Class {spec.a} {names[spec.a]}: {_plural(len(idx), 'image')}, {_plural(errors, 'error')} "
             "(most confident first), then the right ones (least confident first)")
    return _make(run, spec, title, _worst_first(run, idx), empty="No images of this class in the cache.")


def _cell_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    c, names = run.cache, run.class_names
    t, p = spec.a, spec.b
    idx = _by_confidence(run, np.nonzero((c.labels == t) & (c.preds == p))[0])
    support = int((c.labels == t).sum())
    share = f" ({pct(len(idx) / support)} of {names[t]})" if support else ""
    if t == p:
        title = f"{names[t]} read as {names[t]}: {_plural(len(idx), 'right answer')}{share}, most confident first"
    else:
        title = f"{names[t]} → {names[p]}: {_plural(len(idx), 'image')} of {names[t]} predicted as {names[p]}{share}, " \
                "most confident first"
    return _make(run, spec, title, idx, empty="No image of this true class was predicted as this class.")


def _predicted_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    c, names = run.cache, run.class_names
    idx = np.nonzero(c.preds == spec.a)[0]
    wrong = c.labels[idx] != spec.a
    images = np.concatenate([_by_confidence(run, idx[wrong]), _by_confidence(run, idx[~wrong])])
    title = (f"Predicted as {names[spec.a]}: {_plural(len(idx), 'image')}, {int(wrong.sum()):,} of them false alarms "
             "(other classes, most confident first), then its right answers")
    return _make(run, spec, title, images, empty="The model never predicted this class.")


def _errors_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    idx = _by_confidence(run, np.nonzero(~run.correct)[0])
    return _make(run, spec, f"All errors: {_plural(len(idx), 'image')}, most confident first", idx,
                 empty="No misclassifications.")


def _confident_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    from engine.analysis.calibration import HIGH_CONFIDENCE

    idx = _by_confidence(run, np.asarray(run.calibration.high_conf_errors, dtype=np.int64))
    title = f"High-confidence errors: {_plural(len(idx), 'error')} made at ≥ {pct(HIGH_CONFIDENCE)} confidence, " \
            "most confident first"
    return _make(run, spec, title, idx, empty="No error was made at high confidence.")


def _suspects_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    s = run.suspects
    title = (f"Label suspects: {_plural(len(s), 'image')} where another class clears its own threshold and beats "
             "the given label; ranked by the given label's probability over its class's mean, lowest first")
    return _make(run, spec, title, np.asarray(s["image"]), suggested=np.asarray(s["suggested_id"], dtype=np.int64),
                 extra=("margin", np.asarray(s["margin"], dtype=np.float64)),
                 empty="No label suspects: the model agrees with the given labels.")


def _flags_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    """engine.reports.diagnosis.attention_flags_frame's images, in its order (errors first, then by background
    focus), without the pandas and matplotlib that module imports."""
    from engine.analysis.attention import BACKGROUND_FLAG, DIFFUSE_FLAG

    att = run.attention
    idx = np.nonzero((att.background_focus > BACKGROUND_FLAG) | (att.diffuseness > DIFFUSE_FLAG))[0]
    correct = run.correct[idx]
    order = np.lexsort((idx, -att.background_focus[idx], correct))
    idx = idx[order]
    title = (f"Attention flags: {_plural(len(idx), 'image')} whose Grad-CAM is denser on the background than on the "
             "object, or spread with no focus; errors first, then by background focus")
    return _make(run, spec, title, idx, extra=("bg focus", att.background_focus[idx].astype(np.float64)),
                 empty="No attention flags.")


def _faithless_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    """The --faithfulness sample, least faithful map first (lowest insertion - deletion AUC gap,
    engine.analysis.faithfulness)."""
    f = run.faithfulness
    order = np.lexsort((f.index, f.gap))
    title = (f"Least faithful maps: {_plural(len(order), 'sampled image')}, lowest gap (insertion AUC - deletion "
             "AUC) first")
    return _make(run, spec, title, f.index[order], extra=("gap", f.gap[order]),
                 empty=NO_FAITHFULNESS)


def _image_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    return _make(run, spec, f"Image #{spec.a}", np.array([spec.a]))


def _similar_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    """Image a itself, then its NEAREST most similar test images."""
    from engine.analysis.similar_images import NEAREST, nearest

    c, names, i = run.cache, run.class_names, spec.a
    idx, cos = nearest(run.unit_features, i, NEAREST)
    title = (f"Similar to image #{i} (true {names[int(c.labels[i])]}, predicted {names[int(c.preds[i])]}): it, then "
             f"the {len(idx)} nearest test images by the model's pooled features (cosine)")
    return _make(run, spec, title, np.concatenate([[i], idx]),
                 extra=("cosine", np.concatenate([[1.0], cos]).astype(np.float64)))


def _duplicates_slice(run: AnalysedRun, spec: SliceSpec) -> Slice:
    """Every image of a near-duplicate pair, closest pair first (near_duplicates.csv lists the pairs)."""
    d = run.near_duplicates
    idx, cos = d.images()
    kept = f" (the closest {len(d):,} of {d.total:,})" if d.total > len(d) else ""
    title = (f"Near-duplicates: {_plural(d.total, 'pair')} of test images the model sees alike (cosine ≥ "
             f"{d.threshold:.2f}){kept}, {_plural(len(idx), 'image')}, closest pair first")
    return _make(run, spec, title, idx, extra=("cosine", cos.astype(np.float64)),
                 empty="No near-duplicates: no two test images look alike to the model.")


BUILDERS: dict[str, Callable[[AnalysedRun, SliceSpec], Slice]] = {
    CLASS: _class_slice, CELL: _cell_slice, PREDICTED: _predicted_slice, ERRORS: _errors_slice,
    CONFIDENT: _confident_slice, SUSPECTS: _suspects_slice, FLAGS: _flags_slice, IMAGE: _image_slice,
    SIMILAR: _similar_slice, DUPLICATES: _duplicates_slice,
    FAITHLESS: _faithless_slice,
}


def check(run: AnalysedRun, spec: SliceSpec) -> str | None:
    """Why `spec` names no slice of this run (a class or image out of range), else None."""
    n, c = run.cache.num_images, run.cache.num_classes
    if spec.kind not in BUILDERS:
        return f"No slice of kind {spec.kind!r}."
    if spec.kind in (SIMILAR, DUPLICATES) and run.cache.features is None:
        return NO_FEATURES
    if spec.kind == DUPLICATES and not searchable(n):
        return (f"Near-duplicates are searched for in test sets of up to {MAX_IMAGES:,} images (every pair); this one "
                f"has {n:,}. n still lists the images most like one.")
    if spec.kind in (IMAGE, SIMILAR) and not 0 <= spec.a < n:
        return f"No image #{spec.a}: this test set has images 0 to {n - 1}."
    if spec.kind in (CLASS, PREDICTED, CELL) and not 0 <= spec.a < c:
        return f"No class {spec.a}: this run has classes 0 to {c - 1}."
    if spec.kind == CELL and not 0 <= spec.b < c:
        return f"No class {spec.b}: this run has classes 0 to {c - 1}."
    return None


def slice_of(run: AnalysedRun, spec: SliceSpec) -> Slice:
    """The slice `spec` names (check() first: a spec out of range raises)."""
    why = check(run, spec)
    if why:
        raise ValueError(why)
    return BUILDERS[spec.kind](run, spec)


# the slices a user can name without a class or image (the finder lists them)
NAMED: tuple[tuple[str, SliceSpec], ...] = (
    ("all errors", SliceSpec(ERRORS)),
    ("high-confidence errors", SliceSpec(CONFIDENT)),
    ("label suspects", SliceSpec(SUSPECTS)),
    ("attention flags", SliceSpec(FLAGS)),
    ("near-duplicates", SliceSpec(DUPLICATES)),  # listed where the cache has the features (check())
)


def named_slices(run: AnalysedRun) -> tuple[tuple[str, SliceSpec], ...]:
    """NAMED, and the least faithful maps where the run measured faithfulness."""
    return NAMED + ((("least faithful maps", SliceSpec(FAITHLESS)),) if run.faithfulness.available else ())
