"""Turning stored Grad-CAM maps into what people see: bilinear upsampling and per-image min-max (torch-free).

The arithmetic follows pytorch-grad-cam (ReLU'd map, min-max with eps 1e-7, bilinear resize with half-pixel
centres as cv2.resize does, min-max again), so our PNGs, the TUI and the reference agree to 1e-4.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

EPS = 1e-7


@lru_cache(maxsize=64)
def _interp_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of 1-D linear interpolation with half-pixel centres, edges clamped."""
    scale = in_size / out_size
    src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = src - i0
    m = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(m, (np.arange(out_size), i0), 1.0 - w1)
    np.add.at(m, (np.arange(out_size), i1), w1)
    m.setflags(write=False)
    return m


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (..., h, w) maps to (..., H, W)."""
    h, w = maps.shape[-2:]
    ry = _interp_matrix(size[0], h)
    rx = _interp_matrix(size[1], w)
    out = np.einsum("Hh,...hw,Ww->...HW", ry, maps.astype(np.float64), rx, optimize=True)
    return out.astype(np.float32)


def minmax(maps: np.ndarray) -> np.ndarray:
    """Per-map min-max normalisation to [0, 1] over the last two axes (an all-flat map becomes zeros)."""
    maps = maps.astype(np.float32)
    lo = maps.min(axis=(-2, -1), keepdims=True)
    shifted = maps - lo
    return shifted / (EPS + shifted.max(axis=(-2, -1), keepdims=True))


def display_cam(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What a Grad-CAM figure shows: ReLU, min-max, upsample, min-max; values in [0, 1]."""
    return minmax(upsample(minmax(np.maximum(maps, 0.0)), size))


# matplotlib's "jet" segment data, so colours match matplotlib figures without importing matplotlib
_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}


@lru_cache(maxsize=1)
def jet_lut() -> np.ndarray:
    """(256, 3) uint8 lookup table of the JET colormap."""
    x = np.linspace(0.0, 1.0, 256)
    chans = [np.interp(x, [p for p, _ in _JET[c]], [v for _, v in _JET[c]]) for c in ("red", "green", "blue")]
    lut = np.round(np.stack(chans, axis=1) * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def heatmap_rgb(cam01: np.ndarray) -> np.ndarray:
    """A [0, 1] map as a JET-coloured uint8 RGB image."""
    return jet_lut()[np.clip(np.rint(cam01 * 255), 0, 255).astype(np.uint8)]


def overlay_rgb(image: np.ndarray, cam01: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with its JET heatmap blended in at `alpha` (0.5 as in the notebook)."""
    blend = (1.0 - alpha) * image.astype(np.float32) + alpha * heatmap_rgb(cam01).astype(np.float32)
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)
