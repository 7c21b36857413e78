"""Grad-CAM measured against known object masks (numpy only).

Grad-CAM maps are taken at the layer's native resolution, ReLU'd, and brought to the image size with the
bilinear upsampling the figures use (engine.analysis.cam_maps.upsample).

- Pointing game (Zhang et al. 2016): an image is a hit when the peak of its Grad-CAM falls on a pixel of
  the object mask. A map that is zero everywhere points nowhere and counts as a miss.
- Background focus: a Grad-CAM map "focuses on the background" when it is denser off the object than on
  it: its mean over background pixels exceeds its mean over object pixels. Equivalently, the share of the
  map's mass outside the object is larger than the share of the image the background covers (~80% here), so
  a map smeared evenly over the frame is not counted, and neither is one sitting on the object with its
  peak on an edge (the peak criterion would count that; objects are only ~20% of a 32x32 image).
  A map that is zero everywhere has no focus and is not counted.
- Background focus of a class's errors: over the errors that involve class c (c is the true class and the
  model said something else, or the model said c and the truth is something else), the share in which the
  Grad-CAM *of c* focuses on the background: where the model looks for c when c is part of an error. The two
  halves are kept apart as well (missed: true class c; false alarm: predicted class c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis import attention
from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.attention_ranking import AttentionRanking
from engine.analysis.faithfulness import Faithfulness
from engine.analysis.sanity import ModelRandomisationCheck, RandomLogitCheck
from engine.analysis.tables import Table
from engine.analysis.suspect_precision import SuspectPrecision
from engine.analysis.cam_maps import upsample

_CHUNK = 4096
CONFIDENT = 0.9  # an error at or above this confidence counts as over-confident


def _check(cams: np.ndarray, masks: np.ndarray) -> None:
    if cams.ndim != 3 or masks.ndim != 3 or cams.shape[0] != masks.shape[0]:
        raise ValueError(f"need cams (N, h, w) and masks (N, H, W) with the same N, got {cams.shape} and {masks.shape}")


def _upsampled(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return upsample(np.maximum(cams, 0.0), size).astype(np.float64)


def peak_inside(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool (N,): whether each map's peak, after upsampling to the mask size, lies on the object."""
    _check(cams, masks)
    n, size = cams.shape[0], masks.shape[1:]
    out = np.zeros(n, dtype=bool)
    for a in range(0, n, _CHUNK):
        up = _upsampled(cams[a : a + _CHUNK], size).reshape(-1, size[0] * size[1])
        top = up.argmax(axis=1)
        hit = masks[a : a + _CHUNK].reshape(-1, size[0] * size[1])[np.arange(len(top)), top]
        out[a : a + _CHUNK] = hit & (up.max(axis=1) > 0)
    return out


def background_focus(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool (N,): the map is denser on the background than on the object (see the module docstring) — the
    same measure and flag as the engine's attention diagnostics, so the demo's truth and the reports agree."""
    _check(cams, masks)
    out = np.zeros(len(cams), dtype=bool)
    for a in range(0, len(cams), _CHUNK):
        focus = attention.background_focus(cams[a : a + _CHUNK], masks.shape[1:], ~masks[a : a + _CHUNK])
        out[a : a + _CHUNK] = focus > attention.BACKGROUND_FLAG
    return out


def pointing_game(cams: np.ndarray, masks: np.ndarray, select: np.ndarray | None = None) -> float:
    """Share of the selected images (all when select is None) whose map peaks on the object; NaN if none."""
    if select is not None:
        select = np.asarray(select, dtype=bool)
        cams, masks = cams[select], masks[select]
    if len(cams) == 0:
        return float("nan")
    return float(peak_inside(cams, masks).mean())


def pointing_game_per_class(
    cams: np.ndarray, masks: np.ndarray, labels: np.ndarray, num_classes: int, select: np.ndarray | None = None
) -> np.ndarray:
    """float (C,): the pointing game of the selected images of each class (NaN where there are none)."""
    labels = np.asarray(labels, dtype=np.int64)
    select = np.ones(len(labels), dtype=bool) if select is None else np.asarray(select, dtype=bool)
    hit = peak_inside(cams[select], masks[select])
    n = np.bincount(labels[select], minlength=num_classes)
    k = np.bincount(labels[select][hit], minlength=num_classes)
    out = np.full(num_classes, np.nan)
    np.divide(k, n, out=out, where=n > 0)
    return out


@dataclass(frozen=True)
class BackgroundFocus:
    """Per class (arrays of length C): errors involving the class and how many of them have the class's
    Grad-CAM on the background, split into missed (true class c) and false alarms (predicted class c)."""

    missed: np.ndarray  # int: errors whose true class is c
    missed_background: np.ndarray  # int: ... with Grad-CAM(c) focused on the background
    false_alarms: np.ndarray  # int: errors whose predicted class is c
    false_alarms_background: np.ndarray  # int: ... with Grad-CAM(c) focused on the background

    @property
    def errors(self) -> np.ndarray:
        return self.missed + self.false_alarms

    @property
    def share(self) -> np.ndarray:
        """Share of the errors involving c with background focus (NaN where c is in no error)."""
        return _ratio(self.missed_background + self.false_alarms_background, self.errors)

def _ratio(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    out = np.full(len(n), np.nan)
    np.divide(k, n, out=out, where=n > 0)
    return out


def background_focus_per_class(
    cam_true: np.ndarray,
    cam_pred: np.ndarray,
    masks: np.ndarray,
    labels: np.ndarray,
    preds: np.ndarray,
    num_classes: int,
) -> BackgroundFocus:
    """Background focus of every class's errors, from the true-class and predicted-class Grad-CAMs."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    wrong = labels != preds
    t, p = labels[wrong], preds[wrong]
    bg_true = background_focus(cam_true[wrong], masks[wrong])
    bg_pred = background_focus(cam_pred[wrong], masks[wrong])
    return BackgroundFocus(
        missed=np.bincount(t, minlength=num_classes),
        missed_background=np.bincount(t[bg_true], minlength=num_classes),
        false_alarms=np.bincount(p, minlength=num_classes),
        false_alarms_background=np.bincount(p[bg_pred], minlength=num_classes),
    )


# --- what the demo reports about its planted patterns -------------------------------------------------


@dataclass(frozen=True)
class ConfusedPair:
    true_id: int
    pred_id: int
    count: int
    mean_confidence: float
    lookalike: bool  # a planted look-alike pair


@dataclass(frozen=True)
class DemoFindings:
    """The demo's measurements against the known truth (see engine.demo.world for what was planted)."""

    num_images: int
    accuracy: float
    num_correct: int
    pointing_game_correct: float  # share of correct predictions whose Grad-CAM peak is on the object
    pointing_game_correct_per_class: np.ndarray  # (C,)
    top_pairs: list[ConfusedPair]  # the most confused pairs, as engine.analysis ranks them
    background: BackgroundFocus
    num_errors: int
    confident_errors: int  # errors at >= CONFIDENT
    confident_lookalike_errors: int
    ranking: AttentionRanking  # the engine's one attention ranking, as the reports print it
    suspect_precision: SuspectPrecision  # label suspects against clean labels (the demo's labels are clean)
    sanity: RandomLogitCheck
    faithfulness: Faithfulness | None = None  # with --faithfulness: the sampled maps' deletion/insertion ...
    faithfulness_per_class: Table | None = None  # ... per class (engine.analysis.faithfulness)
    model_randomisation: ModelRandomisationCheck | None = None


def measure(run: AnalysedRun, lookalike_pairs: tuple[tuple[int, int], ...], top: int = 10) -> DemoFindings:
    """Measure a run on a data set with object masks against the planted truth."""
    cache, a = run.cache, run.metrics
    if cache.masks is None:
        raise ValueError("the run has no object masks; the truth can only be measured on the demo world")
    labels, preds = cache.labels, cache.preds
    correct = labels == preds
    pairs = {(min(p), max(p)) for p in lookalike_pairs}
    c = cache.num_classes
    confident_wrong = ~correct & (cache.confidence >= CONFIDENT)
    is_look = np.array([(min(t, p), max(t, p)) in pairs for t, p in zip(labels, preds)], dtype=bool)
    top_pairs = [
        ConfusedPair(
            int(r.true_id), int(r.pred_id), int(r.count), float(r.mean_confidence),
            (min(r.true_id, r.pred_id), max(r.true_id, r.pred_id)) in pairs,
        )
        for r in a.confused_pairs.frame.head(top).itertuples()
    ]
    return DemoFindings(
        num_images=cache.num_images,
        accuracy=a.top1,
        num_correct=int(correct.sum()),
        pointing_game_correct=pointing_game(cache.cam_true, cache.masks, correct),
        pointing_game_correct_per_class=pointing_game_per_class(cache.cam_true, cache.masks, labels, c, correct),
        top_pairs=top_pairs,
        background=background_focus_per_class(cache.cam_true, cache.cam_topk[:, 0], cache.masks, labels, preds, c),
        num_errors=int((~correct).sum()),
        confident_errors=int(confident_wrong.sum()),
        confident_lookalike_errors=int((confident_wrong & is_look).sum()),
        ranking=run.attention_ranking,
        suspect_precision=run.suspect_precision,
        sanity=run.sanity,
        **({"faithfulness": run.faithfulness, "faithfulness_per_class": run.faithfulness_per_class,
            "model_randomisation": run.model_randomisation} if run.faithfulness.available else {}),
    )
