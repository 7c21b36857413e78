"""A figure as ONE composed image: text lines, rows of enlarged panels with titles and captions, colour
legends. Drawn with Pillow (a matplotlib dependency) in the DejaVu Sans font that matplotlib ships, so a
100-class report takes seconds instead of the minutes that 3,200 matplotlib subplots take.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.figures.panels import Panel
from engine.reports.png import encode_png
from engine.store.atomic import write_bytes

INK = (25, 25, 25)
GREY = (105, 105, 105)
RED = (180, 30, 30)
GREEN = (20, 120, 40)
MARGIN = 18
GAP = 12
LABEL_WIDTH = 230
TARGET_PANEL_PX = 128
MIN_WIDTH = 780


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    try:
        path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)
        # BASIC layout: raqm (complex scripts) is ~10x slower per string and not needed for class names
        return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
    except OSError:  # pragma: no cover - matplotlib always ships DejaVu
        return ImageFont.load_default(size)


@lru_cache(maxsize=None)
def _glyph(ch: str, size: int, bold: bool) -> tuple[Image.Image | None, int, int, float]:
    """One character: its coverage mask, offset from the pen position on the baseline, and its advance.
    Sheets draw ~1,000 characters each, mostly the same few dozen: rendering each glyph once per process
    instead of each string is what makes 100 class sheets take seconds (kerning is not applied)."""
    fnt = font(size, bold)
    advance = float(fnt.getlength(ch))
    left, top, right, bottom = fnt.getbbox(ch, anchor="ls")
    if right <= left or bottom <= top:
        return None, 0, 0, advance
    mask = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(mask).text((-left, -top), ch, font=fnt, fill=255, anchor="ls")
    return mask, left, top, advance


def text_width(text: str, size: int, bold: bool = False) -> float:
    return sum(_glyph(ch, size, bold)[3] for ch in text)


def fit(text: str, size: int, bold: bool, max_width: float) -> str:
    """`text`, shortened with an ellipsis if it is wider than max_width pixels."""
    if text_width(text, size, bold) <= max_width:
        return text
    ell = text_width("…", size, bold)
    width, out = 0.0, []
    for ch in text:
        width += _glyph(ch, size, bold)[3]
        if width + ell > max_width:
            break
        out.append(ch)
    return "".join(out) + "…"


def draw_text(canvas: Image.Image, xy: tuple[float, float], text: str, size: int, bold: bool, fill, centre=False):
    """Draw `text` with its top-left (or top-centre) at xy, glyph by glyph from the cache."""
    if not text:
        return
    x = xy[0] - (text_width(text, size, bold) / 2 if centre else 0)
    baseline = int(round(xy[1])) + font(size, bold).getmetrics()[0]
    colour = tuple(fill)
    for ch in text:
        mask, left, top, advance = _glyph(ch, size, bold)
        if mask is not None:
            canvas.paste(colour, (int(round(x)) + left, baseline + top), mask)
        x += advance


def line_height(size: int) -> int:
    return int(round(size * 1.4))


@dataclass
class Text:
    text: str
    size: int = 14
    bold: bool = False
    color: tuple[int, int, int] = INK


@dataclass
class Row:
    """A label column, then panels (engine.figures.panels) whose captions take the colour of their tone."""

    label: list[Text]
    panels: list[Panel]
    tones: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def hatched(h: int, w: int) -> np.ndarray:
    """The grey hatched picture drawn for a panel that has none (its note is its caption's reason)."""
    yy, xx = np.mgrid[0:h, 0:w]
    panel = np.full((h, w, 3), 225, dtype=np.uint8)
    panel[((yy + xx) // max(1, h // 8)) % 2 == 0] = 200
    return panel


def _picture(p: Panel, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(p.rgb, dtype=np.uint8) if p.rgb is not None else hatched(*shape)


@dataclass
class Legend:
    title: str
    bar: np.ndarray  # uint8 (h, w, 3)
    low: str
    high: str


@dataclass
class Sheet:
    """Items stacked top to bottom: Text (a full-width line), Row, Legend, or an int (vertical space)."""

    items: list = field(default_factory=list)
    scale: int | None = None
    # filled by render(): (left, top, right, bottom) of every panel, in drawing order (for tests and tools)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)

    def add(self, *items) -> "Sheet":
        self.items.extend(items)
        return self

    def _scale(self) -> int:
        if self.scale:
            return self.scale
        sides = [max(p.rgb.shape[:2]) for it in self.items if isinstance(it, Row) for p in it.panels
                 if p.rgb is not None]
        return max(1, int(round(TARGET_PANEL_PX / max(sides)))) if sides else 1

    def render(self) -> Image.Image:
        k = self._scale()
        rows = [it for it in self.items if isinstance(it, Row)]
        n_panels = max((len(r.panels) for r in rows), default=0)
        panel_px = max((max(p.rgb.shape[:2]) * k for r in rows for p in r.panels if p.rgb is not None), default=0)
        width = max(MIN_WIDTH, 2 * MARGIN + LABEL_WIDTH + n_panels * (panel_px + GAP))
        title_h, cap_h = line_height(13), line_height(13)
        heights = []
        for it in self.items:
            if isinstance(it, int):
                heights.append(it)
            elif isinstance(it, Text):
                heights.append(line_height(it.size))
            elif isinstance(it, Row):
                label_h = sum(line_height(t.size) for t in it.label)
                heights.append(max(title_h + panel_px + cap_h, label_h) + GAP)
            elif isinstance(it, Legend):
                heights.append(line_height(13) + 4)
            else:
                raise TypeError(f"cannot draw {type(it).__name__}")
        canvas = Image.new("RGB", (width, MARGIN * 2 + sum(heights)), "white")
        y = MARGIN
        text_w = width - 2 * MARGIN
        self.boxes = []
        for it, h in zip(self.items, heights):
            if isinstance(it, Text):
                draw_text(canvas, (MARGIN, y), fit(it.text, it.size, it.bold, text_w), it.size, it.bold, it.color)
            elif isinstance(it, Row):
                self.boxes += self._draw_row(canvas, it, y, k, panel_px, title_h)
            elif isinstance(it, Legend):
                self._draw_legend(canvas, it, y)
            y += h
        return canvas

    @staticmethod
    def _draw_row(canvas, row: Row, y: int, k: int, panel_px: int, title_h: int) -> list[tuple[int, int, int, int]]:
        ly = y + title_h
        for t in row.label:
            label = fit(t.text, t.size, t.bold, LABEL_WIDTH - GAP)
            draw_text(canvas, (MARGIN, ly), label, t.size, t.bold, t.color)
            ly += line_height(t.size)
        boxes = []
        shape = next((p.rgb.shape[:2] for p in row.panels if p.rgb is not None), (max(1, panel_px // k),) * 2)
        for j, p in enumerate(row.panels):
            x = MARGIN + LABEL_WIDTH + j * (panel_px + GAP)
            big = np.repeat(np.repeat(_picture(p, shape), k, axis=0), k, axis=1)
            canvas.paste(Image.fromarray(big), (x, y + title_h))
            boxes.append((x, y + title_h, x + big.shape[1], y + title_h + big.shape[0]))
            cx = x + big.shape[1] // 2
            draw_text(canvas, (cx, y), fit(p.title, 13, False, panel_px + GAP - 2), 13, False, GREY, centre=True)
            caption = fit(p.note if p.rgb is None else p.caption, 13, False, panel_px + GAP - 2)
            colour = GREY if p.rgb is None else row.tones.get(p.tone, INK)
            draw_text(canvas, (cx, y + title_h + big.shape[0] + 2), caption, 13, False, colour, centre=True)
        return boxes

    @staticmethod
    def _draw_legend(canvas, legend: Legend, y: int) -> None:
        low, high = fit(legend.low, 13, False, 170), fit(legend.high, 13, False, 170)
        x = MARGIN
        draw_text(canvas, (x, y), legend.title, 13, False, GREY)
        x += int(text_width(legend.title, 13)) + 10
        draw_text(canvas, (x, y), low, 13, False, GREY)
        x += int(text_width(low, 13)) + 6
        bar = legend.bar
        canvas.paste(Image.fromarray(bar), (x, y + (line_height(13) - bar.shape[0]) // 2))
        x += bar.shape[1] + 6
        draw_text(canvas, (x, y), high, 13, False, GREY)


def save_png(image: Image.Image, target: Path) -> Path:
    """Atomic PNG write with the fast encoder of engine.reports.png."""
    return write_bytes(target, encode_png(np.asarray(image.convert("RGB"))))
