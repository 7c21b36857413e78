"""Where the model looks, measured from the Grad-CAM maps of every image (torch-free).

- background focus: share of the (displayed, upsampled) map's mass outside the object mask where masks
  exist, otherwise in the outer ring of the image (the outer eighth of each side: 44% of the area of a
  32x32 image, so a map spread evenly scores 0.44);
- diffuseness: normalised entropy of the map at the layer's resolution (1 = spread evenly, 0 = one cell);
- overlap of the true-class and predicted-class maps (histogram intersection of their mass distributions,
  1 = identical): low overlap on an error means the model looked somewhere else for its wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.cam_display import display_cam

RING_FRACTION = 1 / 8
BACKGROUND_FLAG = 0.5  # more than half the map's mass off the object (or in the ring)
DIFFUSE_FLAG = 0.95  # normalised entropy above this: the model looks nowhere in particular
CHUNK = 2048


@dataclass(frozen=True)
class Attention:
    background_focus: np.ndarray  # (N,) for the predicted class's map
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


def measure(
    cam_pred: np.ndarray, cam_true: np.ndarray, correct: np.ndarray, image_size: tuple[int, int], masks: np.ndarray | None = None
) -> Attention:
    """Per-image attention figures from native-resolution maps of the predicted and the true class."""
    n = len(cam_pred)
    bg = np.empty(n)
    overlap = np.ones(n)
    ring = ring_mask(image_size)
    for s in range(0, n, CHUNK):
        sl = slice(s, min(n, s + CHUNK))
        shown = _mass(display_cam(cam_pred[sl], image_size).astype(np.float64))
        outside = ~masks[sl] if masks is not None else ring[None]
        bg[sl] = (shown * outside).sum(axis=(-2, -1))
        wrong = ~correct[sl]
        if wrong.any():
            p = _mass(np.maximum(cam_pred[sl][wrong], 0).astype(np.float64))
            q = _mass(np.maximum(cam_true[sl][wrong], 0).astype(np.float64))
            overlap[np.arange(sl.start, sl.stop)[wrong]] = np.minimum(p, q).sum(axis=(-2, -1))
    return Attention(bg, diffuseness(cam_pred), overlap, masks is not None)


def per_class(att: Attention, labels: np.ndarray, correct: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Mean figures per true class, for right and wrong predictions, and the share of flagged errors."""
    rows = []
    for c, name in enumerate(class_names):
        m = labels == c
        err = m & ~correct
        ok = m & correct
        rows.append(
            {
                "class_id": c,
                "class_name": name,
                "errors": int(err.sum()),
                "background_focus_correct": _mean(att.background_focus[ok]),
                "background_focus_errors": _mean(att.background_focus[err]),
                "errors_background_share": _mean(att.background_focus[err] > BACKGROUND_FLAG),
                "diffuseness_errors": _mean(att.diffuseness[err]),
                "errors_diffuse_share": _mean(att.diffuseness[err] > DIFFUSE_FLAG),
                "true_pred_overlap_errors": _mean(att.true_pred_overlap[err]),
            }
        )
    return pd.DataFrame(rows)


def per_pair(att: Attention, labels: np.ndarray, preds: np.ndarray, pairs: pd.DataFrame) -> pd.DataFrame:
    """Attention figures for each confused pair's images (true -> predicted)."""
    out = pairs[["rank", "true_name", "pred_name", "count"]].copy()
    bg, overlap = [], []
    for t, p in zip(pairs.true_id, pairs.pred_id):
        m = (labels == t) & (preds == p)
        bg.append(_mean(att.background_focus[m]))
        overlap.append(_mean(att.true_pred_overlap[m]))
    out["background_focus"] = bg
    out["true_pred_overlap"] = overlap
    return out


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")
