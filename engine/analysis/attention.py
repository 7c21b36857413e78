"""Where the model looks, measured from the Grad-CAM maps of every image.

- background focus: how much denser the (displayed, upsampled) map is off the object than on it, where the
  object is the mask where masks exist, otherwise the centre of the image (the background being the outer
  ring, an eighth of each side): mean map off the object / (mean off + mean on). A map spread evenly scores
  0.5 whatever the object's size (a raw share of mass would score 0.8 for an object covering 20% of the
  image); above 0.5 the model looks more at the background than at the object;
- diffuseness: normalised entropy of the map at the layer's resolution (1 = spread evenly, 0 = one cell);
- overlap of the true-class and predicted-class maps (histogram intersection of their mass distributions,
  1 = identical): low overlap on an error means the model looked somewhere else for its wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.cam_maps import display_cam
from engine.analysis.tables import Table

RING_FRACTION = 1 / 8
BACKGROUND_FLAG = 0.5  # the map is denser off the object (or in the ring) than on it
DIFFUSE_FLAG = 0.95  # normalised entropy above this: the model looks nowhere in particular
CHUNK = 2048


@dataclass(frozen=True)
class Attention:
    background_focus: np.ndarray  # (N,) for the predicted class's map
    background_focus_true: np.ndarray  # (N,) for the true class's map
    diffuseness: np.ndarray  # (N,)
    true_pred_overlap: np.ndarray  # (N,), 1.0 where the prediction is right
    uses_masks: bool


def ring_mask(size: tuple[int, int]) -> np.ndarray:
    h, w = size
    rh, rw = max(1, round(h * RING_FRACTION)), max(1, round(w * RING_FRACTION))
    ring = np.ones((h, w), dtype=bool)
    ring[rh : h - rh, rw : w - rw] = False
    return ring


def _mass(maps: np.ndarray) -> np.ndarray:
    total = maps.sum(axis=(-2, -1), keepdims=True)
    flat = np.full_like(maps, 1.0 / (maps.shape[-1] * maps.shape[-2]))
    return np.where(total > 0, maps / np.where(total > 0, total, 1), flat)


def diffuseness(native_maps: np.ndarray) -> np.ndarray:
    p = _mass(np.maximum(native_maps, 0).astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -(np.where(p > 0, p * np.log(p), 0.0)).sum(axis=(-2, -1))
    return ent / np.log(p.shape[-1] * p.shape[-2])


def _background_focus(shown: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """mean(map off the object) / (mean off + mean on), per image; 0.5 where the map is flat or empty."""
    outside = np.broadcast_to(outside, shown.shape)
    n_out = outside.sum(axis=(-2, -1))
    n_in = outside.shape[-1] * outside.shape[-2] - n_out
    off = (shown * outside).sum(axis=(-2, -1)) / np.maximum(n_out, 1)
    on = (shown * ~outside).sum(axis=(-2, -1)) / np.maximum(n_in, 1)
    total = off + on
    focus = np.where(total > 0, off / np.where(total > 0, total, 1), 0.5)
    return np.where((n_out == 0) | (n_in == 0), 0.5, focus)


def background_focus(cams: np.ndarray, image_size: tuple[int, int], outside: np.ndarray) -> np.ndarray:
    """Background focus of native-resolution maps as displayed; `outside` is the background, (N, H, W) or (1, H, W)."""
    return _background_focus(display_cam(cams, image_size).astype(np.float64), outside)


def measure(
    cam_pred: np.ndarray, cam_true: np.ndarray, correct: np.ndarray, image_size: tuple[int, int], masks: np.ndarray | None = None
) -> Attention:
    """Per-image attention figures from native-resolution maps of the predicted and the true class."""
    n = len(cam_pred)
    bg = np.empty(n)
    bg_true = np.empty(n)
    overlap = np.ones(n)
    ring = ring_mask(image_size)
    for s in range(0, n, CHUNK):
        sl = slice(s, min(n, s + CHUNK))
        outside = ~masks[sl] if masks is not None else ring[None]
        bg[sl] = background_focus(cam_pred[sl], image_size, outside)
        bg_true[sl] = background_focus(cam_true[sl], image_size, outside)
        wrong = ~correct[sl]
        if wrong.any():
            p = _mass(np.maximum(cam_pred[sl][wrong], 0).astype(np.float64))
            q = _mass(np.maximum(cam_true[sl][wrong], 0).astype(np.float64))
            overlap[np.arange(sl.start, sl.stop)[wrong]] = np.minimum(p, q).sum(axis=(-2, -1))
    return Attention(bg, bg_true, diffuseness(cam_pred), overlap, masks is not None)


def per_class(att: Attention, labels: np.ndarray, preds: np.ndarray, class_names: list[str]) -> Table:
    """Mean figures per true class, for right and wrong predictions, and the share of flagged errors.

    `errors_involving_background_share` looks at every error the class is part of, as the truth (missed)
    or as the prediction (false alarm), through the class's own map: a class learnt from its background
    shows up in both directions.
    """
    correct = labels == preds
    rows = []
    for c, name in enumerate(class_names):
        m = labels == c
        err = m & ~correct
        ok = m & correct
        false_alarm = (preds == c) & ~correct
        own_focus = np.concatenate([att.background_focus_true[err], att.background_focus[false_alarm]])
        rows.append(
            {
                "class_id": c,
                "class_name": name,
                "errors": int(err.sum()),
                "background_focus_correct": _mean(att.background_focus[ok]),
                "background_focus_errors": _mean(att.background_focus[err]),
                "errors_background_share": _mean(att.background_focus[err] > BACKGROUND_FLAG),
                "errors_involving": int(len(own_focus)),
                "errors_involving_background_share": _mean(own_focus > BACKGROUND_FLAG),
                "diffuseness_errors": _mean(att.diffuseness[err]),
                "errors_diffuse_share": _mean(att.diffuseness[err] > DIFFUSE_FLAG),
                "true_pred_overlap_errors": _mean(att.true_pred_overlap[err]),
            }
        )
    return Table({key: [row[key] for row in rows] for key in rows[0]} if rows else {})


def per_pair(att: Attention, labels: np.ndarray, preds: np.ndarray, pairs: Table) -> Table:
    """Attention figures for each confused pair's images (true -> predicted)."""
    bg, overlap = [], []
    for t, p in zip(pairs["true_id"], pairs["pred_id"]):
        m = (labels == t) & (preds == p)
        bg.append(_mean(att.background_focus[m]))
        overlap.append(_mean(att.true_pred_overlap[m]))
    columns = {k: pairs[k] for k in ("rank", "true_name", "pred_name", "count")}
    return Table({**columns, "background_focus": bg, "true_pred_overlap": overlap})


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")
