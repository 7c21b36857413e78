"""Half-block rendering of an RGB array into Textual strips: one cell = two pixels, '▀' with the upper
pixel as foreground and the lower one as background.

Why our own and not a terminal-graphics library: emitting rich Segments keeps Textual in charge (it
composites, applies its NO_COLOR filter, and snapshot tests stay deterministic), and half-blocks work over
SSH and inside tmux, where graphics protocols do not pass (docs/tui.md says more).

Pictures are drawn at a whole number of pixels per cell where they fit (32x32 is 32 columns by 16 rows at
1x), so pixels stay crisp; only a picture larger than its space is averaged down. On a 256-colour terminal
(tmux's default) Textual would round each pixel to the nearest palette colour, which posterises smooth
Grad-CAM ramps into bands; here the picture is ordered-dithered (4x4 Bayer) onto the xterm palette instead,
so areas keep their mean colour.
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
    """Largest (pixel height, pixel width) with the image's aspect that fits cols x rows half-block cells,
    at a whole number of cells per pixel when the picture fits at its own size (crisp pixels)."""
    scale = min(cols / width, 2 * rows / height)
    if scale >= 1:
        scale = float(int(scale))
    return max(int(height * scale), 0), max(int(width * scale), 0)


# --- 256 colours: ordered dithering onto the xterm palette ------------------------------------------------

EIGHT_BIT = 1 << 24  # a packed colour with this bit is an xterm palette number, not an RGB triplet
CUBE = np.array([0, 95, 135, 175, 215, 255], dtype=np.float32)  # the 6x6x6 cube's levels (16 + 36r + 6g + b)
GREY_LEVELS = np.array([0] + [8 + 10 * k for k in range(24)] + [255], dtype=np.float32)
GREY_NUMBERS = np.array([16] + [232 + k for k in range(24)] + [231], dtype=np.int64)
BAYER = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], dtype=np.float32) + 0.5) / 16
GREY_CHROMA = 10  # pixels whose channels differ by less than this are dithered on the 26 greys


def _dither(values: np.ndarray, levels: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Index into `levels` of each value: the level below or above it, chosen against the threshold so the
    mean over a patch matches the value."""
    hi = np.clip(np.searchsorted(levels, values, side="left"), 1, len(levels) - 1)
    lo = hi - 1
    frac = (values - levels[lo]) / (levels[hi] - levels[lo])
    return np.where(frac > threshold, hi, lo)


def palette_256(rgb: np.ndarray) -> np.ndarray:
    """(H, W) xterm palette numbers for a uint8 (H, W, 3) picture, ordered-dithered."""
    h, w = rgb.shape[:2]
    v = rgb.astype(np.float32)
    threshold = np.tile(BAYER, (h // 4 + 1, w // 4 + 1))[:h, :w]
    q = _dither(v, CUBE, threshold[..., None])
    cube = 16 + 36 * q[..., 0] + 6 * q[..., 1] + q[..., 2]
    grey = GREY_NUMBERS[_dither(v.mean(axis=2), GREY_LEVELS, threshold)]
    chroma = v.max(axis=2) - v.min(axis=2)
    return np.where(chroma < GREY_CHROMA, grey, cube).astype(np.int64)


def palette_rgb(numbers: np.ndarray) -> np.ndarray:
    """The RGB of xterm palette numbers 16-255 (what a terminal shows for them), uint8 (..., 3)."""
    n = np.asarray(numbers, dtype=np.int64)
    cube = n - 16
    rgb = np.stack([CUBE[cube // 36 % 6], CUBE[cube // 6 % 6], CUBE[cube % 6]], axis=-1)
    grey = (8 + 10 * (n - 232)).astype(np.float32)
    rgb = np.where((n >= 232)[..., None], grey[..., None], rgb)
    return rgb.astype(np.uint8)


_COLOURS: dict[int, Color] = {}
_STYLES: dict[tuple[int, int], Style] = {}
_CACHE_LIMIT = 1 << 18


def _colour(rgb: int) -> Color:
    c = _COLOURS.get(rgb)
    if c is None:
        if len(_COLOURS) > _CACHE_LIMIT:
            _COLOURS.clear()
        if rgb & EIGHT_BIT:
            c = _COLOURS[rgb] = Color.from_ansi(rgb & 255)
        else:
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


def colour_rows(rgb: np.ndarray, colours: int = 1 << 24) -> list[list[Segment]]:
    """Segments of each cell row of a uint8 (H, W, 3) picture; runs of equal cells are merged. With
    colours=256 the picture is dithered onto the xterm palette (palette_256)."""
    if colours == 256:
        packed = palette_256(rgb) | EIGHT_BIT
    else:
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
    rgb: np.ndarray, mono: np.ndarray, cols: int, rows: int, *, color: bool = True, pad: Style | None = None,
    colours: int = 1 << 24,
) -> list[Strip] | None:
    """The picture fitted and centred in cols x rows cells, or None when it would be too small to read;
    `colours` is what the terminal shows (256: dithered onto its palette)."""
    ph, pw = fit(rgb.shape[0], rgb.shape[1], cols, rows)
    ph -= ph % 2
    if ph < 6 or pw < 6:
        return None
    pad = pad or Style()
    if color:
        small = np.clip(np.rint(resample(rgb, ph, pw)), 0, 255).astype(np.uint8)
        body = colour_rows(small, colours)
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
