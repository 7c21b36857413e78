"""The panels of an example figure, built once for the PNG reports and the terminal app.

A panel is a picture at the image's own resolution (e.g. 32x32) with a title and a caption; the PNG sheet
enlarges it with nearest-neighbour, the terminal resamples it to its cells, so both show the same pixels.
The maps are shown as pytorch-grad-cam shows them (engine.analysis.cam_maps): ReLU, min-max, bilinear to
the image size, min-max; the JET colormap; overlays at alpha 0.5. The figures of the notebook:

- misclassified: original | Grad-CAM (True) | Grad-CAM (Pred) | Why Pred, not True | heatmap (Pred)
- correct (low- or high-confidence): original | overlay | heatmap only
- confused pair: original | Grad-CAM (True) | Grad-CAM (Pred) | Why Pred, not True | Pred − True on one scale
- label suspect: original | Grad-CAM of the given label | of the suggested label

Any class's map comes from engine.analysis.any_class_maps (the stored true/top-k maps first). A cache may
hold no picture for an image, or no map of a class: the panel then carries a note in place of its picture
(the maps are drawn alone over no picture); nothing here raises for a missing picture. A cache from before
the contrastive map was stored ("Why Pred, not True": the map of y_pred - y_true) has no such panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.any_class_maps import cam_of
from engine.analysis.cam_maps import EPS, display_cam, upsample
from engine.config import CAM_METHODS
from engine.figures.colours import diverging_rgb, heatmap_rgb, overlay_rgb
from engine.figures.examples import target_role
from engine.figures.numbers import pct
from engine.store import RunCache

NO_IMAGE = "no image in the cache"
NO_MAP = "no map of this class in the cache"
CONTRAST = "Why Pred, not True"
DIFF_FLOOR = 0.25  # the difference's colour range never drops below 25% of the peak: near-identical maps stay pale


@dataclass(frozen=True, eq=False)
class Panel:
    """One picture with a title and a caption. `tone` says what the caption is about ("true", "pred",
    "low", "best" or ""), for a figure to colour; `mono` in [0, 1] is what a NO_COLOR terminal shades. A
    panel without a picture (rgb None) shows `note` in its place."""

    rgb: np.ndarray | None  # uint8 (H, W, 3)
    title: str
    caption: str = ""
    tone: str = ""
    mono: np.ndarray | None = None  # float (H, W)
    note: str = ""


def stored_image(cache: RunCache, i: int) -> np.ndarray | None:
    """Image i's uint8 (H, W, 3) picture, or None when the cache holds none for it."""
    images = getattr(cache, "images", None)
    if images is None or getattr(images, "ndim", 0) != 4 or not 0 <= i < len(images):
        return None
    try:
        img = np.asarray(images[i])
    except (OSError, ValueError, IndexError):  # e.g. a memory-mapped member that cannot be read
        return None
    return img if img.dtype == np.uint8 and img.ndim == 3 and img.shape[-1] == 3 else None


def image_size(cache: RunCache) -> tuple[int, int]:
    """(H, W) the maps are drawn at: the stored images', else the run's recorded size, else 4x the map's."""
    images = getattr(cache, "images", None)
    if images is not None and getattr(images, "ndim", 0) == 4 and images.shape[1] and images.shape[2]:
        return int(images.shape[1]), int(images.shape[2])
    recorded = (cache.meta.get("data") or {}).get("image_size") if isinstance(cache.meta, dict) else None
    if isinstance(recorded, list) and len(recorded) == 2 and all(isinstance(v, int) and v > 0 for v in recorded):
        return recorded[0], recorded[1]
    return 4 * int(cache.cam_true.shape[1]), 4 * int(cache.cam_true.shape[2])


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / 255.0


def shown_map(cache: RunCache, i: int, cls: int) -> np.ndarray | None:
    """Grad-CAM of image i for class cls as displayed, in [0, 1] at image_size, or None if not stored."""
    cam = cam_of(cache, i, cls)
    return None if cam is None else display_cam(cam, image_size(cache))


def _with_prob(cache: RunCache, i: int, cls: int) -> str:
    return f"{cache.class_names[cls]} {pct(float(cache.probs[i, cls]))}"


def original(cache: RunCache, i: int) -> Panel:
    caption = f"true: {cache.class_names[int(cache.labels[i])]}"
    img = stored_image(cache, i)
    if img is None:
        return Panel(None, "Original", caption, note=NO_IMAGE)
    return Panel(img, "Original", caption, mono=_luminance(img))


def overlay(cache: RunCache, i: int, cls: int, title: str, tone: str = "") -> Panel:
    """The map of cls over image i at alpha 0.5 (the map alone when the cache holds no picture)."""
    cam = shown_map(cache, i, cls)
    caption = _with_prob(cache, i, cls)
    if cam is None:
        return Panel(None, title, caption, tone, note=NO_MAP)
    img = stored_image(cache, i)
    return Panel(heatmap_rgb(cam) if img is None else overlay_rgb(img, cam), title, caption, tone, mono=cam)


def heatmap(cache: RunCache, i: int, cls: int, title: str, tone: str = "") -> Panel:
    cam = shown_map(cache, i, cls)
    if cam is None:
        return Panel(None, title, cache.class_names[cls], tone, note=NO_MAP)
    return Panel(heatmap_rgb(cam), title, cache.class_names[cls], tone, mono=cam)


def contrast(cache: RunCache, i: int) -> Panel | None:
    """The contrastive map of image i (why the prediction and not the true class: the CAM of y_pred -
    y_true) over the image, or None where the cache holds none."""
    maps = getattr(cache, "cam_contrast", None)
    if maps is None:
        return None
    try:
        raw = np.asarray(maps[i])
    except (OSError, ValueError, IndexError):  # e.g. a memory-mapped member that cannot be read
        return None
    t, p = int(cache.labels[i]), int(cache.preds[i])
    cam = display_cam(raw, image_size(cache))
    caption = f"{cache.class_names[p]}, not {cache.class_names[t]}"
    img = stored_image(cache, i)
    return Panel(heatmap_rgb(cam) if img is None else overlay_rgb(img, cam), CONTRAST, caption, "pred", mono=cam)


def _with_contrast(panels: list[Panel], cache: RunCache, i: int) -> list[Panel]:
    """The panels with the contrastive map inserted after the first three (original, true, predicted)."""
    extra = contrast(cache, i)
    return panels if extra is None else [*panels[:3], extra, *panels[3:]]


def difference(cache: RunCache, i: int, true_cls: int, pred_cls: int) -> Panel:
    """Grad-CAM(pred) - Grad-CAM(true) on ONE scale: both ReLU'd maps upsampled and divided by the larger of
    their two peaks (a stronger map stays stronger), coloured RdBu_r over +-range, range = max(|difference|,
    25% of the peak), blended over a grey copy of the image. Red: more evidence for pred, blue: for true.
    The caption gives the range as a share of the peak."""
    t, p = cam_of(cache, i, true_cls), cam_of(cache, i, pred_cls)
    if t is None or p is None:
        return Panel(None, "Pred − True", "", note=NO_MAP)
    both = upsample(np.maximum(np.stack([t, p]), 0.0), image_size(cache))
    diff = (both[1] - both[0]) / max(float(both.max()), EPS)
    rng = max(float(np.abs(diff).max()), DIFF_FLOOR)
    colour = diverging_rgb(diff / rng).astype(np.float32)
    img = stored_image(cache, i)
    grey = 128.0 if img is None else img.astype(np.float32).mean(axis=2, keepdims=True)
    rgb = np.clip(np.rint(0.7 * colour + 0.3 * grey), 0, 255).astype(np.uint8)
    return Panel(rgb, "Pred − True", f"±{rng:.0%} of peak", mono=np.clip((diff / rng + 1.0) / 2.0, 0.0, 1.0))


def class_example_panels(cache: RunCache, i: int, target: int | None = None, tone: str = "") -> list[Panel]:
    """A class page's example. Misclassified: original | Grad-CAM (True) | Grad-CAM of the target |
    the contrastive map of the prediction (where stored) | the target's heatmap (the notebook figure when
    the target is the prediction, the default). Correct: original | overlay | heatmap only of the target.
    `tone` colours a correct example's overlay caption."""
    truth = int(cache.labels[i])
    target = int(cache.preds[i]) if target is None else int(target)
    role = target_role(cache, i, target)
    if int(cache.preds[i]) != truth:
        return _with_contrast([
            original(cache, i),
            overlay(cache, i, truth, "Grad-CAM (True)", "true"),
            overlay(cache, i, target, f"Grad-CAM ({role})", "pred"),
            heatmap(cache, i, target, f"Heatmap ({role})", "pred"),
        ], cache, i)
    same = role == "True = Pred"
    return [
        original(cache, i),
        overlay(cache, i, target, "Grad-CAM overlay" if same else f"Grad-CAM ({role})", tone),
        heatmap(cache, i, target, "Heatmap only" if same else f"Heatmap ({role})"),
    ]


def pair_example_panels(cache: RunCache, i: int, true_cls: int, pred_cls: int) -> list[Panel]:
    """Original | Grad-CAM (True) | Grad-CAM (Pred) | the contrastive map (where stored) | their difference."""
    panels = [
        original(cache, i),
        overlay(cache, i, true_cls, "Grad-CAM (True)", "true"),
        overlay(cache, i, pred_cls, "Grad-CAM (Pred)", "pred"),
        difference(cache, i, true_cls, pred_cls),
    ]
    this_error = int(cache.labels[i]) == true_cls and int(cache.preds[i]) == pred_cls
    return _with_contrast(panels, cache, i) if this_error else panels


def suspect_panels(cache: RunCache, i: int, given: int, suggested: int) -> list[Panel]:
    """Original | Grad-CAM of the given label | of the suggested label (left out when the cache stores no
    map of the suggested class for this image)."""
    out = [original(cache, i), overlay(cache, i, given, "Grad-CAM (given)", "true")]
    if cam_of(cache, i, suggested) is not None:
        out.append(overlay(cache, i, suggested, "Grad-CAM (suggested)", "pred"))
    return out


def layer_grid(meta: dict) -> "tuple[int, int] | None":
    """The Grad-CAM layer's map (h, w) as the cache records it, or None where it does not (older caches)."""
    layer_map = meta.get("target_layer_map")
    grid = layer_map.get("grid") if isinstance(layer_map, dict) else None
    return (grid[0], grid[1]) if isinstance(grid, (list, tuple)) and len(grid) == 2 else None


def contrast_caption(cache: RunCache) -> str | None:
    """The figure line that says what the contrastive panel is, or None where the cache holds no such maps."""
    if getattr(cache, "cam_contrast", None) is None:
        return None
    method = CAM_METHODS.get(str(cache.meta.get("cam_method")), "Grad-CAM")
    return (f"{CONTRAST}: {method} of the score y_pred − y_true, where the image argues for the prediction "
            "over the true class.")


def cam_caption(meta: dict) -> str:
    """The heatmaps' caption in a figure: the method and the layer they come from, and how they are scaled."""
    layer, grid = meta.get("target_layer"), layer_grid(meta)
    where = f" at {layer}" if isinstance(layer, str) and layer else ""
    if where and grid is not None:
        where += f" ({grid[0]}x{grid[1]})"
    method = CAM_METHODS.get(str(meta.get("cam_method")), "Grad-CAM")
    return f"{method}{where}, min-max per image, overlays at alpha 0.5:"
