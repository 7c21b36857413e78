"""One example drawn as a row of captioned panels (original, Grad-CAMs, contrastive map, heatmap or
difference).

Every figure of the app is drawn here, the same way: a view binds its `drawing` (tui.figures.Drawing) to
this widget; the panels are built in a thread (engine.figures.panels: upsampling and colouring take a few
milliseconds per example, more on large images, and must never hold up a key press) and shown on the UI
thread only if that drawing is still the one asked for. One builder runs at a time per figure: when it
finishes and the drawing has changed meanwhile, it builds the newest one, so a burst of keys costs at most
one stale build and ends on the last drawing.

Pictures are shown at their own pixel size where the terminal allows it: when the row is too narrow for
every panel at one pixel per cell (four 32x32 panels need 132 columns) but tall enough for one, it shows as
many as fit and `v` (next_page) pages through the rest; only a terminal too small for even one panel at
its size gets every panel scaled down.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive

from engine.figures.panels import Panel
from tui.figures import Drawing
from tui.widgets.image_panel import ImagePanel

MAX_PANELS = 5  # an error's figure: original, two maps, the contrastive map, heatmap or difference
PANEL_CHROME = (1, 2)  # columns (right padding) and rows (title, caption) a panel adds to its picture
MORE = "  v▸"


def per_page(n: int, width: int, height: int, picture: tuple[int, int] | None) -> int:
    """How many of n panels to show side by side in width x height cells: all of them if they fit at their
    own pixel size (or if not even one does), else as many as fit at that size."""
    if picture is None or n <= 1:
        return max(n, 1)
    ph, pw = picture
    cols, rows = pw + PANEL_CHROME[0], (ph + 1) // 2 + PANEL_CHROME[1]
    if height < rows or width < cols:  # not even one at its size: all of them, smaller
        return n
    return max(1, min(n, width // cols))


class ExampleFigure(Horizontal):
    """Up to MAX_PANELS panels side by side; unused slots are hidden so the others share the width."""

    DEFAULT_CSS = """
    ExampleFigure {
        height: 1fr;
        min-height: 5;
    }
    """

    drawing: reactive[Drawing | None] = reactive(None, init=False, repaint=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.building = False  # a builder thread is running (set and cleared on the UI thread only)
        self.panels: list[Panel] = []
        self.page = 0
        self.page_size = MAX_PANELS

    def compose(self) -> ComposeResult:
        for _ in range(MAX_PANELS):
            yield ImagePanel()

    def watch_drawing(self, drawing: Drawing | None) -> None:
        if drawing is None:
            self.show([])
        elif not self.building:
            self.building = True
            self._build()

    @work(thread=True, group="figure", exit_on_error=False)
    def _build(self) -> None:
        done = False
        while not done:
            drawing = self.drawing  # the newest asked for
            panels = drawing.panels() if drawing is not None else []
            done = self.app.call_from_thread(self._built, drawing, panels)

    def _built(self, drawing: Drawing | None, panels: list[Panel]) -> bool:
        """Show `panels` if `drawing` is still asked for (True: the builder is done), else build again."""
        if drawing is not self.drawing:
            return False
        self.building = False
        if drawing is not None:
            self.show(panels)
        return True

    @property
    def pages(self) -> int:
        return -(-len(self.panels) // self.page_size) if self.panels else 1

    def next_page(self) -> None:
        """Show the next panels when not all fit (v)."""
        if self.pages > 1:
            self.page = (self.page + 1) % self.pages
            self._lay_out()

    def show(self, panels: list[Panel]) -> None:
        kept = [p.title for p in self.panels] == [p.title for p in panels]  # same kind of figure: same page
        self.panels = panels
        if not kept:
            self.page = 0
        self._lay_out()

    def on_resize(self) -> None:
        if self.panels:
            self._lay_out()

    def _picture(self) -> tuple[int, int] | None:
        return next((p.rgb.shape[:2] for p in self.panels if p.rgb is not None), None)

    def _lay_out(self) -> None:
        size = self.content_size
        self.page_size = per_page(len(self.panels), size.width, size.height, self._picture())
        self.page = min(self.page, self.pages - 1)
        shown = self.panels[self.page * self.page_size:(self.page + 1) * self.page_size]
        more = self.pages > 1
        for k, slot in enumerate(self.query(ImagePanel)):
            if slot.display != (k < len(shown)):  # only a change of panel count needs a reflow
                slot.display = k < len(shown)
            slot.show(shown[k] if k < len(shown) else None, more=more and k == len(shown) - 1)
