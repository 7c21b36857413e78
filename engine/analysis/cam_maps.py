"""Stored Grad-CAM maps as they are shown and measured: bilinear upsampling and per-image min-max.

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
