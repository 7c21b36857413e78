"""The confusion matrix drawn in the terminal: one character per predicted class and two true classes per
line (half blocks, '▀' with the upper row as foreground), so 100 x 100 classes take 100 columns and 50
lines; classes grouped by superclass (the empty cells of alternate blocks tinted), a cursor over cells.
Fewer classes than the terminal holds get square cells of up to MAX_SCALE characters a side, so a 20-class
matrix is not a stamp in the corner of the screen.

Zoomed (`z`), the block of the cursor's superclasses is drawn as a table of counts, one line per true class,
with the class names. Colours: the diagonal (right answers) green by its share of the largest; errors on a
log scale from pale yellow to dark red (one confusion shows next to a 90-image cell), as the report's PNG
does. Under NO_COLOR each cell is a glyph of the density ramp, one true class per line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tui.halfblock import SHADES, UPPER_HALF

TINTS = ((34, 38, 44), (48, 54, 62))  # empty cells of alternate superclass blocks
CROSS = (70, 82, 96)  # empty cells in the cursor's row and column
CURSOR = (0, 230, 255)
ERROR_STOPS = np.array([(255, 237, 160), (253, 141, 60), (227, 26, 28), (128, 0, 38)], dtype=np.float64)
LABEL = 14  # columns for the superclass (or class, zoomed) names on the left
MAX_SCALE = 4  # characters (and half-lines) a side of one cell, at most


def _ramp(t: np.ndarray) -> np.ndarray:
    """Colours of the error scale at `t` in [0, 1], one RGB row per value."""
    x = np.clip(t, 0.0, 1.0) * (len(ERROR_STOPS) - 1)
    k = np.minimum(x.astype(np.int64), len(ERROR_STOPS) - 2)
    return ERROR_STOPS[k] + (x - k)[:, None] * (ERROR_STOPS[k + 1] - ERROR_STOPS[k])


@lru_cache(maxsize=4096)
def _style(fg: tuple[int, int, int] | None, bg: tuple[int, int, int] | None, extra: str = "") -> Style:
    return Style.parse(extra) + Style(color=None if fg is None else Color.from_rgb(*fg),
                                      bgcolor=None if bg is None else Color.from_rgb(*bg))


@dataclass
class Grid:
    """The matrix in display order: counts[r, c] = images of class order[r] predicted as order[c]."""

    counts: np.ndarray
    order: np.ndarray
    blocks: list[tuple[int, int, str]]
    names: list[str]

    def __post_init__(self) -> None:
        n = len(self.order)
        self.block_of = np.zeros(n, dtype=np.int64)
        for b, (start, stop, _) in enumerate(self.blocks):
            self.block_of[start:stop] = b
        diag = np.diag(self.counts)
        off = self.counts.copy()
        np.fill_diagonal(off, 0)
        self.max_diag = max(int(diag.max()) if n else 1, 1)
        self.max_off = max(int(off.max()) if n else 1, 1)
        self.colours = self._colours()

    def _colours(self) -> list[list[tuple[int, int, int]]]:
        """Every cell's colour, computed once for the whole matrix (drawing looks them up cell by cell)."""
        k = self.counts.astype(np.float64)
        rgb = np.empty(k.shape + (3,), dtype=np.float64)
        rgb[...] = np.array(TINTS, dtype=np.float64)[(self.block_of[:, None] + self.block_of[None, :]) % 2]
        off = k > 0
        np.fill_diagonal(off, False)
        scale = np.log(k[off]) / np.log(self.max_off) if self.max_off > 1 else np.ones(int(off.sum()))
        rgb[off] = _ramp(0.15 + 0.85 * scale)
        d = np.flatnonzero(np.diag(k) > 0)
        t = np.diag(k)[d] / self.max_diag
        rgb[d, d] = np.stack([30 + 30 * t, 70 + 130 * t, 40 + 40 * t], axis=1)
        return [list(map(tuple, row)) for row in rgb.astype(np.int64).tolist()]

    def colour(self, r: int, c: int) -> tuple[int, int, int]:
        return self.colours[r][c]

    def shade(self, r: int, c: int) -> str:
        k = int(self.counts[r, c])
        if k == 0:
            return " " if (self.block_of[r] + self.block_of[c]) % 2 == 0 else "·"
        if r == c:
            return "#"
        t = np.log(k) / np.log(self.max_off) if self.max_off > 1 else 1.0
        return SHADES[1 + int(round(t * (len(SHADES) - 4)))]


class ConfusionGrid(Widget, can_focus=True):
    """`cursor` is (row, column) in display order; `zoomed` shows the cursor's block enlarged."""

    DEFAULT_CSS = """
    ConfusionGrid {
        height: 1fr;
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding("up,k", "move(-1, 0)", "Up", show=False),
        Binding("down,j", "move(1, 0)", "Down", show=False),
        Binding("left,h", "move(0, -1)", "Left", show=False),
        Binding("right,l", "move(0, 1)", "Right", show=False),
        Binding("K,shift+up", "block(-1, 0)", "Block up", show=False),
        Binding("J,shift+down", "block(1, 0)", "Block down", show=False),
        Binding("H,shift+left", "block(0, -1)", "Block left", show=False),
        Binding("L,shift+right", "block(0, 1)", "Block right", show=False),
        Binding("d", "diagonal", "To the diagonal", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor: reactive[tuple[int, int]] = reactive((0, 0), init=False)
    zoomed: reactive[bool] = reactive(False, init=False)

    @dataclass
    class Moved(Message):
        grid: "ConfusionGrid"

    @dataclass
    class Selected(Message):
        true_id: int
        pred_id: int

    def __init__(self, grid: Grid, **kwargs) -> None:
        super().__init__(**kwargs)
        self.grid = grid
        self.top = 0  # the first line shown
        self.left = 0  # the first column shown (the whole matrix in a terminal narrower than it)

    # --- cursor ----------------------------------------------------------------------------------------

    @property
    def cell(self) -> tuple[int, int]:
        """(true class id, predicted class id) under the cursor."""
        r, c = self.cursor
        return int(self.grid.order[r]), int(self.grid.order[c])

    def move_to(self, true_id: int, pred_id: int) -> None:
        where = {int(k): p for p, k in enumerate(self.grid.order)}
        self.cursor = (where.get(true_id, 0), where.get(pred_id, 0))

    def watch_cursor(self) -> None:
        self.refresh()
        self.post_message(self.Moved(self))

    def watch_zoomed(self) -> None:
        self.top = 0
        self.refresh()
        self.post_message(self.Moved(self))

    def action_move(self, dr: int, dc: int) -> None:
        n = len(self.grid.order)
        if n:
            r, c = self.cursor
            self.cursor = (max(0, min(r + dr, n - 1)), max(0, min(c + dc, n - 1)))

    def action_block(self, dr: int, dc: int) -> None:
        """To the first class of the next block up / down / left / right."""
        g = self.grid
        if not len(g.order):
            return
        r, c = self.cursor
        br = max(0, min(g.block_of[r] + dr, len(g.blocks) - 1))
        bc = max(0, min(g.block_of[c] + dc, len(g.blocks) - 1))
        self.cursor = (g.blocks[br][0] if dr else r, g.blocks[bc][0] if dc else c)

    def action_diagonal(self) -> None:
        r, _ = self.cursor
        self.cursor = (r, r)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed

    def action_select(self) -> None:
        if len(self.grid.order):
            self.post_message(self.Selected(*self.cell))

    def on_click(self, event: events.Click) -> None:
        hit = self._cell_at(event.x, event.y)
        if hit is not None:
            if hit == self.cursor and event.chain > 1:
                self.action_select()
            self.cursor = hit

    # --- geometry --------------------------------------------------------------------------------------

    def _zoom_block(self) -> tuple[range, range]:
        g = self.grid
        r, c = self.cursor
        rs, re_, _ = g.blocks[g.block_of[r]]
        cs, ce, _ = g.blocks[g.block_of[c]]
        return range(rs, re_), range(cs, ce)

    def _zoom_width(self) -> int:
        cols = self._zoom_block()[1]
        return int(np.clip((self.size.width - LABEL - 1) // max(len(cols), 1), 5, 12))

    @property
    def rows_per_line(self) -> int:
        """Cell rows a line holds: two half blocks, or one glyph under NO_COLOR."""
        return 1 if self.app.no_color else 2

    @property
    def scale(self) -> int:
        """Characters (and cell rows) a side of one class's cell: as many as the widget holds, 1 to MAX_SCALE."""
        n = len(self.grid.order)
        if not n:
            return 1
        across = (self.size.width - LABEL) // n
        down = self.rows_per_line * max(self.size.height - 1, 1) // n
        return int(max(1, min(MAX_SCALE, across, down)))

    def _line_of(self, r: int) -> int:
        return r * self.scale // self.rows_per_line

    def _lines(self) -> int:
        """Lines of the matrix (besides the header line)."""
        if self.zoomed:
            return len(self._zoom_block()[0])
        n = len(self.grid.order)
        return -(-n * self.scale // self.rows_per_line)

    def _follow(self) -> None:
        window = max(self.size.height - 1, 1)
        if self.zoomed:
            line = self.cursor[0] - self._zoom_block()[0].start
        else:
            line = self._line_of(self.cursor[0])
        if line < self.top:
            self.top = line
        elif line >= self.top + window:
            self.top = line - window + 1
        self.top = max(0, min(self.top, max(self._lines() - window, 0)))
        cols, s = self._columns(), self.scale
        x = self.cursor[1] * s  # the cursor's first character column
        if self.zoomed:
            self.left = 0
        elif x < self.left:
            self.left = x
        elif x + s > self.left + cols:
            self.left = x + s - cols
        self.left = max(0, min(self.left, max(len(self.grid.order) * s - cols, 0)))

    def _columns(self) -> int:
        """Character columns of the matrix the width shows beside the labels."""
        return max(self.size.width - LABEL, 1)

    def _cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        if y < 1 or x < LABEL:
            return None
        if self.zoomed:
            rows, cols = self._zoom_block()
            r, c = self.top + y - 1, (x - LABEL) // self._zoom_width()
            return (rows[r], cols[c]) if r < len(rows) and c < len(cols) else None
        n, s = len(self.grid.order), self.scale
        r, c = (self.top + y - 1) * self.rows_per_line // s, (x - LABEL + self.left) // s
        return (r, c) if r < n and c < n else None

    # --- drawing ---------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        self._follow()
        width = self.size.width
        base = self.rich_style
        if self.zoomed:
            segs = self._zoom_header() if y == 0 else self._zoom_line(self.top + y - 1)
        else:
            segs = self._header() if y == 0 else self._line(self.top + y - 1)
            if self.left:  # scrolled sideways: the labels stay, the columns from `left` on follow them
                segs = [segs[0], *Strip(segs[1:]).crop(self.left, self.left + self._columns())]
        return Strip(Segment.apply_style(segs, base)).crop_extend(0, width, base).simplify()

    def _label(self, text: str, style: Style | None = None) -> Segment:
        text = text[: LABEL - 1]
        return Segment(text.ljust(LABEL), style or self.rich_style + Style(dim=True))

    def _header(self) -> list[Segment]:
        """The column blocks' names, each cut to its block's width."""
        g = self.grid
        segs = [self._label("true ↓ pred →")]
        here = g.block_of[self.cursor[1]]
        for b, (start, stop, name) in enumerate(g.blocks):
            w = (stop - start) * self.scale  # alternate blocks dimmed: names cut to their block's width stay apart
            style = self.rich_style + Style(bold=b == here, reverse=b == here, dim=b != here and b % 2 == 1)
            segs.append(Segment(name[:w].ljust(w), style))
        return segs

    def _line(self, line: int) -> list[Segment]:
        g, n = self.grid, len(self.grid.order)
        k, s = self.rows_per_line, self.scale
        rows = [u // s for u in range(line * k, line * k + k) if u // s < n]  # the cell row of each half
        if not rows:
            return [Segment(" ", self.rich_style)]
        cr, cc = self.cursor
        starts = {u // s for u in range(line * k, line * k + k) if u % s == 0}  # cell rows beginning here
        name = next((nm for b, _, nm in g.blocks if b in starts), "")  # a block's name where it starts
        here = g.block_of[cr] == g.block_of[rows[-1]]
        segs = [self._label(name, self.rich_style + Style(bold=here, dim=not here))]
        if self.app.no_color:
            r = rows[0]
            for c in range(n):
                glyph = g.shade(r, c)
                style = self.rich_style + Style(reverse=True, bold=True) if (r, c) == (cr, cc) else self.rich_style
                segs.append(Segment(("@" if (r, c) == (cr, cc) else glyph) * s, style))
            return segs
        top = self._row_colours(rows[0])
        bottom = self._row_colours(rows[1]) if len(rows) > 1 else [None] * n
        segs.extend(Segment(UPPER_HALF * s, _style(t, b)) for t, b in zip(top, bottom))
        return segs

    def _row_colours(self, r: int) -> list[tuple[int, int, int]]:
        """Row r's cell colours with the cursor drawn, and the empty cells of its row and column marked."""
        g, (cr, cc) = self.grid, self.cursor
        colours = g.colours[r]
        if r != cr and g.counts[r, cc]:
            return colours
        colours = list(colours)
        if r == cr:
            for c in np.flatnonzero(g.counts[r] == 0):
                colours[c] = CROSS
            colours[cc] = CURSOR
        else:
            colours[cc] = CROSS
        return colours

    def _zoom_header(self) -> list[Segment]:
        g = self.grid
        rows, cols = self._zoom_block()
        w = self._zoom_width()
        segs = [self._label(g.blocks[g.block_of[rows.start]][2][: LABEL - 2] + " ↓", self.rich_style + Style(bold=True))]
        for c in cols:
            name = g.names[int(g.order[c])]
            bold = c == self.cursor[1]
            segs.append(Segment(name[: w - 1].ljust(w), self.rich_style + Style(bold=bold, dim=not bold)))
        return segs

    def _zoom_line(self, line: int) -> list[Segment]:
        g = self.grid
        rows, cols = self._zoom_block()
        if line >= len(rows):
            return [Segment(" ", self.rich_style)]
        r = rows[line]
        w = self._zoom_width()
        bold = r == self.cursor[0]
        segs = [self._label(g.names[int(g.order[r])], self.rich_style + Style(bold=bold, dim=not bold))]
        for c in cols:
            k = int(g.counts[r, c])
            text = (str(k) if k else "·").center(w - 1) + " "
            if (r, c) == self.cursor:
                style = self.rich_style + Style(reverse=True, bold=True)
            elif self.app.no_color:
                style = self.rich_style
            else:
                bg = g.colour(r, c)
                fg = (0, 0, 0) if sum(bg) > 380 else (235, 235, 235)
                style = _style(fg, bg)
            segs.append(Segment(text, style))
        return segs

