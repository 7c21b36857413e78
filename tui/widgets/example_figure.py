"""One example drawn as a row of captioned panels (original, Grad-CAMs, heatmap or difference)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal

from tui.figures import Panel
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

    def compose(self) -> ComposeResult:
        for _ in range(MAX_PANELS):
            yield ImagePanel()

    def show(self, panels: list[Panel]) -> None:
        for k, slot in enumerate(self.query(ImagePanel)):
            if slot.display != (k < len(panels)):  # only a change of panel count needs a reflow
                slot.display = k < len(panels)
            slot.show(panels[k] if k < len(panels) else None)
