"""A widget that draws one Panel with half blocks, fitted to whatever size the layout gives it.

Rendering goes through the line API with the strips cached per (panel, size, colour mode, palette), so scrolling and
repaints cost nothing and a new panel costs one resample (a few milliseconds for a 32x32 picture).
"""

from __future__ import annotations

import textwrap

from rich.segment import Segment
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.figures.panels import Panel
from tui.halfblock import render


class HalfBlockImage(Widget):
    """Draws `panel` centred in its content area; says so when the terminal is too small to show it, and
    shows the panel's note when it has no picture."""

    DEFAULT_CSS = """
    HalfBlockImage {
        width: 1fr;
        height: 1fr;
    }
    """

    panel: reactive[Panel | None] = reactive(None, always_update=True)

    def __init__(self, panel: Panel | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._strips: list[Strip] | None = None
        self._key: tuple | None = None
        self.set_reactive(HalfBlockImage.panel, panel)

    def watch_panel(self) -> None:
        self._key = None
        self.refresh()

    def _render_all(self) -> list[Strip]:
        w, h = self.size
        colours = 256 if self.app.console.color_system == "256" else 1 << 24
        key = (w, h, self.app.no_color, colours)
        if self._key != key or self._strips is None:
            self._key = key
            pad = self.rich_style
            strips = None
            p = self.panel
            if p is not None and p.rgb is not None and p.mono is not None and w > 0 and h > 0:
                strips = render(p.rgb, p.mono, w, h, color=not self.app.no_color, pad=pad, colours=colours)
            if strips is None:
                note = "" if p is None else p.note if p.rgb is None else "(enlarge)"
                blank = Strip([Segment(" " * w, pad)], w)
                strips = [blank] * h
                lines = textwrap.wrap(note, max(w, 1))[:h] if w > 0 else []
                top = max(0, (h - len(lines)) // 2)
                for k, line in enumerate(lines):
                    strips[top + k] = Strip([Segment(line[:w].center(w), pad)], w)
            self._strips = strips
        return self._strips

    def render_line(self, y: int) -> Strip:
        strips = self._render_all()
        return strips[y] if 0 <= y < len(strips) else Strip.blank(self.size.width, self.rich_style)
