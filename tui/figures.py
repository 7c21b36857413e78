"""The RGB panels the TUI draws for an example, built only with engine.cam_display (no Textual).

Using display_cam / heatmap_rgb / overlay_rgb at the image's own resolution, exactly as the PNG writers do,
is what makes the terminal colours match the saved figures; the terminal then only resamples the finished
RGB picture to its cell grid (tui.halfblock). The pair difference map is the PNG writer's own
(engine.reports.panels.cam_difference: one scale for both maps, RdBu_r over grey), imported on first use
because its colour table comes from matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.cache import RunCache
from engine.cam_display import display_cam, heatmap_rgb, overlay_rgb
from tui.model import pct, target_role


@dataclass(frozen=True, eq=False)
class Panel:
    """One picture with its two caption lines; `mono` in [0, 1] is what a NO_COLOR terminal shades."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    mono: np.ndarray  # float (H, W) in [0, 1]
    title: str
    subtitle: str = ""


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / 255.0


def _cam01(cache: RunCache, i: int, cls: int) -> np.ndarray:
    cam = cache.cam_for(i, cls)
    if cam is None:  # not stored for this image: show an empty (flat) map rather than fail
        cam = np.zeros(cache.cam_true.shape[1:], dtype=np.float32)
    return display_cam(cam, cache.images.shape[1:3])


def _class_line(cache: RunCache, i: int, cls: int) -> str:
    return f"{cache.class_names[cls]} {pct(float(cache.probs[i, cls]))}"


def original(cache: RunCache, i: int) -> Panel:
    img = cache.images[i]
    return Panel(img, _luminance(img), "Original", f"true: {cache.class_names[int(cache.labels[i])]}")


def cam_overlay(cache: RunCache, i: int, cls: int) -> Panel:
    """Titled as in the PNGs: 'Grad-CAM (True)' / '(Pred)', 'Grad-CAM overlay' when true = pred."""
    cam = _cam01(cache, i, cls)
    role = target_role(cache, i, cls)
    title = "Grad-CAM overlay" if role == "True = Pred" else f"Grad-CAM ({role})"
    return Panel(overlay_rgb(cache.images[i], cam), cam, title, _class_line(cache, i, cls))


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
    rgb, rng = cam_difference(cache, i, true_cls, pred_cls)
    sub = f"±{rng:.0%} of peak" if rng == rng else "not in the cache"
    return Panel(rgb, mono, "Pred − True", sub)


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
    size = cache.images.shape[1:3]
    out = [original(cache, i)]
    for role, cls in (("given", given), ("suggested", suggested)):
        cam = cache.cam_for(i, cls)
        if cam is None:
            continue
        cam01 = display_cam(cam, size)
        out.append(Panel(overlay_rgb(cache.images[i], cam01), cam01, f"Grad-CAM ({role})", _class_line(cache, i, cls)))
    return out
