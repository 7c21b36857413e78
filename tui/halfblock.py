"""Half-block rendering of an RGB array into Textual strips: one cell = two pixels, '▀' with the upper
pixel as foreground and the lower one as background.

Why our own and not term-image: term-image 0.7 has no Textual widget (only urwid), and its BlockImage
writes ANSI strings for a terminal it owns (in truecolor mode it even queries the terminal's background
colour), which fights Textual for the terminal. Emitting rich Segments keeps Textual in charge: it
composites, downgrades truecolor to 256/16 colours for the terminal it detected, applies its NO_COLOR
filter, and snapshot tests stay deterministic. No graphics protocol is used, so it works over SSH and tmux.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

UPPER_HALF = "\u2580"
SHADES = " .:-=+*#%@"  # NO_COLOR: intensity as glyph density, darkest first


@lru_cache(maxsize=128)
def _box_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) area weights: each output pixel averages the input pixels it covers (exact for integer
    upscales, so pixels stay crisp; smooth for the downscales a small terminal forces)."""
    edges = np.arange(out_size + 1) * (in_size / out_size)
    lo, hi = edges[:-1, None], edges[1:, None]
    src = np.arange(in_size)[None, :]
    overlap = np.clip(np.minimum(hi, src + 1) - np.maximum(lo, src), 0.0, None)
    m = overlap / overlap.sum(axis=1, keepdims=True)
    m.setflags(write=False)
    return m


def resample(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-weighted resize of an (H, W) or (H, W, C) array to (height, width), as float32."""
    ry = _box_matrix(height, values.shape[0])
    rx = _box_matrix(width, values.shape[1])
    if values.ndim == 2:
        return (ry @ values.astype(np.float32) @ rx.T).astype(np.float32)
    return np.einsum("Yy,yxc,Xx->YXc", ry, values.astype(np.float32), rx, optimize=True).astype(np.float32)


def fit(height: int, width: int, cols: int, rows: int) -> tuple[int, int]:
    """Largest (pixel height, pixel width) with the image's aspect that fits cols x rows half-block cells."""
    scale = min(cols / width, 2 * rows / height)
    return max(int(height * scale), 0), max(int(width * scale), 0)


_COLOURS: dict[int, Color] = {}
_STYLES: dict[tuple[int, int], Style] = {}
_CACHE_LIMIT = 1 << 18


def _colour(rgb: int) -> Color:
    c = _COLOURS.get(rgb)
    if c is None:
        if len(_COLOURS) > _CACHE_LIMIT:
            _COLOURS.clear()
        # what Color.from_rgb builds, without its parsing (8x faster; thousands per new picture)
        triplet = ColorTriplet(rgb >> 16, (rgb >> 8) & 255, rgb & 255)
        c = _COLOURS[rgb] = Color(f"#{rgb:06x}", ColorType.TRUECOLOR, triplet=triplet)
    return c


def _style(top: int, bottom: int) -> Style:
    """fg = upper pixel, bg = lower pixel (bottom < 0: no lower pixel, the widget background shows)."""
    key = (top, bottom)
    s = _STYLES.get(key)
    if s is None:
        if len(_STYLES) > _CACHE_LIMIT:
            _STYLES.clear()
        s = _STYLES[key] = Style.from_color(_colour(top), _colour(bottom) if bottom >= 0 else None)
    return s


def colour_rows(rgb: np.ndarray) -> list[list[Segment]]:
    """Segments of each cell row of a uint8 (H, W, 3) picture; runs of equal cells are merged."""
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    if packed.shape[0] % 2:
        packed = np.concatenate([packed, np.full((1, packed.shape[1]), -1, dtype=np.int64)])
    rows = []
    for top, bottom in zip(packed[0::2].tolist(), packed[1::2].tolist()):
        segs: list[Segment] = []
        run, key = 0, None
        for k in zip(top, bottom):
            if k != key and run:
                segs.append(Segment(UPPER_HALF * run, _style(*key)))
                run = 0
            key = k
            run += 1
        if run:
            segs.append(Segment(UPPER_HALF * run, _style(*key)))
        rows.append(segs)
    return rows


def shade_rows(mono: np.ndarray, style: Style) -> list[list[Segment]]:
    """Segments of each cell row of an (H, W) [0, 1] map drawn with density glyphs (two pixels per cell).
    Every segment carries a style: Textual's NO_COLOR filter cannot handle a bare one."""
    h = mono.shape[0] - mono.shape[0] % 2
    cells = (mono[:h:2] + mono[1:h:2]) / 2 if h else mono[:1]
    idx = np.clip(np.rint(cells * (len(SHADES) - 1)), 0, len(SHADES) - 1).astype(np.int64)
    return [[Segment("".join(SHADES[i] for i in row), style)] for row in idx.tolist()]


def render(
    rgb: np.ndarray, mono: np.ndarray, cols: int, rows: int, *, color: bool = True, pad: Style | None = None
) -> list[Strip] | None:
    """The picture fitted and centred in cols x rows cells, or None when it would be too small to read."""
    ph, pw = fit(rgb.shape[0], rgb.shape[1], cols, rows)
    ph -= ph % 2
    if ph < 6 or pw < 6:
        return None
    pad = pad or Style()
    if color:
        small = np.clip(np.rint(resample(rgb, ph, pw)), 0, 255).astype(np.uint8)
        body = colour_rows(small)
    else:
        body = shade_rows(np.clip(resample(mono, ph, pw), 0.0, 1.0), pad)
    left = (cols - pw) // 2
    top = 0  # top-aligned: the picture sits right under its caption
    blank = Strip([Segment(" " * cols, pad)], cols)
    strips = [blank] * top
    for segs in body:
        line = [Segment(" " * left, pad), *segs, Segment(" " * (cols - left - pw), pad)]
        strips.append(Strip(line, cols))
    strips += [blank] * (rows - len(strips))
    return strips
