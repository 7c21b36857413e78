"""The RGB panels of the Grad-CAM figures, computed from the cache with engine.cam_display only.

Every panel is at the image's own resolution (e.g. 32x32); the sheet enlarges it with nearest-neighbour,
so what a PNG shows is exactly what the TUI shows, pixel for pixel, only bigger.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.cache import RunCache
from engine.cam_display import EPS, display_cam, heatmap_rgb, overlay_rgb, upsample


def _size(cache: RunCache) -> tuple[int, int]:
    return int(cache.images.shape[1]), int(cache.images.shape[2])


def original(cache: RunCache, i: int) -> np.ndarray:
    return np.asarray(cache.images[i], dtype=np.uint8)


def cam01(cache: RunCache, i: int, cls: int) -> np.ndarray | None:
    """Grad-CAM of image i for class cls as displayed (ReLU, min-max, bilinear to image size, min-max)."""
    raw = cache.cam_for(i, cls)
    return None if raw is None else display_cam(raw, _size(cache))


def missing(cache: RunCache) -> np.ndarray:
    """A grey hatched panel for a map the cache does not hold."""
    h, w = _size(cache)
    yy, xx = np.mgrid[0:h, 0:w]
    panel = np.full((h, w, 3), 225, dtype=np.uint8)
    panel[((yy + xx) // max(1, h // 8)) % 2 == 0] = 200
    return panel


def cam_overlay(cache: RunCache, i: int, cls: int) -> np.ndarray:
    cam = cam01(cache, i, cls)
    return missing(cache) if cam is None else overlay_rgb(original(cache, i), cam, 0.5)


def cam_heatmap(cache: RunCache, i: int, cls: int) -> np.ndarray:
    cam = cam01(cache, i, cls)
    return missing(cache) if cam is None else heatmap_rgb(cam)


@lru_cache(maxsize=1)
def diverging_lut() -> np.ndarray:
    """(256, 3) uint8 of matplotlib's RdBu_r: blue for negative, white for zero, red for positive."""
    from matplotlib import colormaps

    lut = np.round(colormaps["RdBu_r"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def diverging_rgb(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] as RdBu_r colours (0 is white)."""
    idx = np.clip(np.rint((np.asarray(values) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return diverging_lut()[idx]


DIFF_FLOOR = 0.25  # the colour range never drops below 25% of the peak, so near-identical maps stay pale


def cam_difference(cache: RunCache, i: int, true_cls: int, pred_cls: int) -> tuple[np.ndarray, float]:
    """Grad-CAM(pred) - Grad-CAM(true) on ONE scale, and that scale.

    Both ReLU'd maps are upsampled and divided by the larger of their two peaks (so a stronger map stays
    stronger); the difference is then coloured RdBu_r over +-range, range = max(|difference|, 25% of the
    peak), blended over a grey copy of the image so the reader sees where. Red: more evidence for pred,
    blue: more for true. Returns (rgb, range as a share of the peak).
    """
    t, p = cache.cam_for(i, true_cls), cache.cam_for(i, pred_cls)
    if t is None or p is None:
        return missing(cache), float("nan")
    both = upsample(np.maximum(np.stack([t, p]), 0.0), _size(cache))
    diff = (both[1] - both[0]) / max(float(both.max()), EPS)
    rng = max(float(np.abs(diff).max()), DIFF_FLOOR)
    colour = diverging_rgb(diff / rng).astype(np.float32)
    grey = original(cache, i).astype(np.float32).mean(axis=2, keepdims=True)
    return np.clip(np.rint(0.7 * colour + 0.3 * grey), 0, 255).astype(np.uint8), rng


def jet_bar(width: int, height: int) -> np.ndarray:
    """A horizontal JET colour bar, low to high."""
    return np.repeat(heatmap_rgb(np.linspace(0.0, 1.0, width))[None], height, axis=0)


def diverging_bar(width: int, height: int) -> np.ndarray:
    return np.repeat(diverging_rgb(np.linspace(-1.0, 1.0, width))[None], height, axis=0)
