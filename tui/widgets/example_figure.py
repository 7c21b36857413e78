"""One example drawn as a row of captioned panels (original, Grad-CAMs, heatmap or difference).

Every figure of the app is drawn here, the same way: a view binds its `drawing` (tui.figures.Drawing) to
this widget; the panels are built in a thread (engine.figures.panels: upsampling and colouring take a few
milliseconds per example, more on large images, and must never hold up a key press) and shown on the UI
thread only if that drawing is still the one asked for. One builder runs at a time per figure: when it
finishes and the drawing has changed meanwhile, it builds the newest one, so a burst of keys costs at most
one stale build and ends on the last drawing.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive

from engine.figures.panels import Panel
from tui.figures import Drawing
from tui.widgets.image_panel import ImagePanel

MAX_PANELS = 4


class ExampleFigure(Horizontal):
    """Up to four panels side by side; unused slots are hidden so the others share the width."""

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

    def show(self, panels: list[Panel]) -> None:
        for k, slot in enumerate(self.query(ImagePanel)):
            if slot.display != (k < len(panels)):  # only a change of panel count needs a reflow
                slot.display = k < len(panels)
            slot.show(panels[k] if k < len(panels) else None)
