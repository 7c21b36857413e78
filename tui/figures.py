"""The RGB panels the TUI draws for an example, built only with engine.cam_display (no Textual).

Using display_cam / heatmap_rgb / overlay_rgb at the image's own resolution, exactly as the PNG writers do,
is what makes the terminal colours match the saved figures; the terminal then only resamples the finished
RGB picture to its cell grid (tui.halfblock). The pair difference map is the PNG writer's own
(engine.reports.panels.cam_difference: one scale for both maps, RdBu_r over grey), imported on first use
because its colour table comes from matplotlib.

A cache may hold no picture for an image (no images array, one that ends early, a row that cannot be
read): the Original panel then carries a note instead of pixels, the Grad-CAM panels show the heatmap
alone, and the difference is drawn over grey. Nothing here raises for a missing picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.cache import RunCache
from engine.cam_display import display_cam, heatmap_rgb, overlay_rgb
from engine.console import visible
from tui.model import pct, target_role


NO_IMAGE = "no image in the cache"


@dataclass(frozen=True, eq=False)
class Panel:
    """One picture with its two caption lines; `mono` in [0, 1] is what a NO_COLOR terminal shades. A panel
    without a picture (rgb None) shows `note` in its place."""

    rgb: np.ndarray | None  # uint8 (H, W, 3)
    mono: np.ndarray | None  # float (H, W) in [0, 1]
    title: str
    subtitle: str = ""
    note: str = ""


def message(title: str, note: str, subtitle: str = "") -> Panel:
    """A panel that says something instead of showing a picture."""
    return Panel(None, None, title, subtitle, note)


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


def _cam01(cache: RunCache, i: int, cls: int) -> np.ndarray:
    cam = cache.cam_for(i, cls)
    if cam is None:  # not stored for this image: show an empty (flat) map rather than fail
        cam = np.zeros(cache.cam_true.shape[1:], dtype=np.float32)
    return display_cam(cam, image_size(cache))


def _class_line(cache: RunCache, i: int, cls: int) -> str:
    return f"{cache.class_names[cls]} {pct(float(cache.probs[i, cls]))}"


def _overlay(cache: RunCache, i: int, cam01: np.ndarray) -> np.ndarray:
    """The map over image i at alpha 0.5, or the map alone when the cache holds no picture."""
    img = stored_image(cache, i)
    return heatmap_rgb(cam01) if img is None else overlay_rgb(img, cam01)


def original(cache: RunCache, i: int) -> Panel:
    subtitle = f"true: {cache.class_names[int(cache.labels[i])]}"
    img = stored_image(cache, i)
    if img is None:
        return message("Original", NO_IMAGE, subtitle)
    return Panel(img, _luminance(img), "Original", subtitle)


def cam_overlay(cache: RunCache, i: int, cls: int) -> Panel:
    """Titled as in the PNGs: 'Grad-CAM (True)' / '(Pred)', 'Grad-CAM overlay' when true = pred."""
    cam = _cam01(cache, i, cls)
    role = target_role(cache, i, cls)
    title = "Grad-CAM overlay" if role == "True = Pred" else f"Grad-CAM ({role})"
    return Panel(_overlay(cache, i, cam), cam, title, _class_line(cache, i, cls))


def heatmap_only(cache: RunCache, i: int, cls: int) -> Panel:
    cam = _cam01(cache, i, cls)
    role = target_role(cache, i, cls)
    title = "Heatmap only" if role == "True = Pred" else f"Heatmap ({role})"
    return Panel(heatmap_rgb(cam), cam, title, _class_line(cache, i, cls))


def difference(cache: RunCache, i: int, true_cls: int, pred_cls: int) -> Panel:
    """Grad-CAM(pred) - Grad-CAM(true): red where the model finds more of the predicted class, blue more
    of the true one. NO_COLOR shades the same signed difference, 0.5 = no difference."""
    from engine.reports.panels import cam_difference

    mono = (_cam01(cache, i, pred_cls) - _cam01(cache, i, true_cls) + 1.0) / 2.0
    source = cache if stored_image(cache, i) is not None else _GreyPicture(cache, i)
    rgb, rng = cam_difference(source, i, true_cls, pred_cls)  # type: ignore[arg-type]
    sub = f"±{rng:.0%} of peak" if rng == rng else "not in the cache"
    return Panel(rgb, mono, "Pred − True", sub)


class _GreyPicture:
    """The cache as engine.reports.panels sees it, with mid-grey in place of image i's missing picture."""

    def __init__(self, cache: RunCache, i: int) -> None:
        h, w = image_size(cache)
        self.images = np.broadcast_to(np.full((h, w, 3), 128, dtype=np.uint8), (i + 1, h, w, 3))
        self.cam_for = cache.cam_for


def class_example_panels(cache: RunCache, i: int, target: int) -> list[Panel]:
    """Misclassified: original | CAM(true) | CAM(target) | heatmap(target) — the notebook figure when the
    target is the prediction. Correct: original | CAM(target) | heatmap(target)."""
    truth = int(cache.labels[i])
    if int(cache.preds[i]) != truth:
        return [
            original(cache, i),
            cam_overlay(cache, i, truth),
            cam_overlay(cache, i, target),
            heatmap_only(cache, i, target),
        ]
    return [original(cache, i), cam_overlay(cache, i, target), heatmap_only(cache, i, target)]


def pair_example_panels(cache: RunCache, i: int, true_cls: int, pred_cls: int) -> list[Panel]:
    """Original | CAM(true) | CAM(pred) | their difference."""
    return [
        original(cache, i),
        cam_overlay(cache, i, true_cls),
        cam_overlay(cache, i, pred_cls),
        difference(cache, i, true_cls, pred_cls),
    ]


def suspect_panels(cache: RunCache, i: int, given: int, suggested: int) -> list[Panel]:
    """Original | Grad-CAM of the given label | Grad-CAM of the suggested label (left out when the cache
    stores no map of the suggested class for this image)."""
    size = image_size(cache)
    out = [original(cache, i)]
    for role, cls in (("given", given), ("suggested", suggested)):
        cam = cache.cam_for(i, cls)
        if cam is None:
            continue
        cam01 = display_cam(cam, size)
        out.append(Panel(_overlay(cache, i, cam01), cam01, f"Grad-CAM ({role})", _class_line(cache, i, cls)))
    return out


def safely(build, *args) -> list[Panel]:
    """`build(*args)`'s panels, or one panel saying why they could not be drawn: a damaged cache entry
    costs its picture, never the session."""
    try:
        return build(*args)
    except Exception as exc:  # noqa: BLE001 - shown to the user in place of the figure
        return [message("Cannot draw this example", visible(f"{type(exc).__name__}: {exc}")[:200])]
