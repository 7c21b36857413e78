"""Colours of the figures: the JET heatmap, overlays, and the blue-white-red scale of map differences.

Both colour scales are matplotlib's own ("jet", "RdBu_r"), tabulated here from their segment data, so the
PNGs and the terminal draw the same colours without importing matplotlib.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# matplotlib's "jet" segment data
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


# matplotlib's "RdBu" anchors (ColorBrewer), reversed: blue for negative, white for zero, red for positive
_RDBU = (
    (0.403921568627451, 0.0, 0.12156862745098039),
    (0.69803921568627447, 0.09411764705882353, 0.16862745098039217),
    (0.83921568627450982, 0.37647058823529411, 0.30196078431372547),
    (0.95686274509803926, 0.6470588235294118, 0.50980392156862742),
    (0.99215686274509807, 0.85882352941176465, 0.7803921568627451),
    (0.96862745098039216, 0.96862745098039216, 0.96862745098039216),
    (0.81960784313725488, 0.89803921568627454, 0.94117647058823528),
    (0.5725490196078431, 0.77254901960784317, 0.87058823529411766),
    (0.2627450980392157, 0.57647058823529407, 0.76470588235294112),
    (0.12941176470588237, 0.4, 0.67450980392156867),
    (0.0196078431372549, 0.18823529411764706, 0.38039215686274508),
)


@lru_cache(maxsize=1)
def diverging_lut() -> np.ndarray:
    """(256, 3) uint8 of matplotlib's RdBu_r."""
    anchors = np.array(_RDBU[::-1])
    x = np.linspace(0.0, 1.0, 256)
    at = np.linspace(0.0, 1.0, len(anchors))
    lut = np.round(np.stack([np.interp(x, at, anchors[:, k]) for k in range(3)], axis=1) * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def diverging_rgb(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] as RdBu_r colours (0 is white)."""
    idx = np.clip(np.rint((np.asarray(values) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return diverging_lut()[idx]


def jet_bar(width: int, height: int) -> np.ndarray:
    """A horizontal JET colour bar, low to high."""
    return np.repeat(heatmap_rgb(np.linspace(0.0, 1.0, width))[None], height, axis=0)


def diverging_bar(width: int, height: int) -> np.ndarray:
    return np.repeat(diverging_rgb(np.linspace(-1.0, 1.0, width))[None], height, axis=0)
