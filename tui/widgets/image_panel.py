"""A captioned picture: two caption lines (what the map is for, class and probability) above the image.

Captions are cut with an ellipsis rather than wrapped, so every panel in a row keeps the same image height.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from engine.figures.panels import Panel
from tui.widgets.half_block_image import HalfBlockImage


class ImagePanel(Vertical):
    """Title, caption, picture."""

    DEFAULT_CSS = """
    ImagePanel {
        width: 1fr;
        height: 1fr;
        padding: 0 1 0 0;
    }
    ImagePanel > Label {
        width: 1fr;
        height: 1;
        text-align: center;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ImagePanel > .title {
        text-style: bold;
    }
    ImagePanel > .subtitle {
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        yield Label("", classes="title", markup=False)  # captions hold class names: '[/]' is a name, not markup
        yield Label("", classes="subtitle", markup=False)
        yield HalfBlockImage()

    def show(self, panel: Panel | None, more: bool = False) -> None:
        """Show `panel`; `more`: its title says that `v` shows the panels that did not fit."""
        # layout=False: captions are one line whatever they say, so a new example is a repaint, not a reflow
        title = (panel.title if panel else "") + ("  v▸" if more else "")
        self.query_one(".title", Label).update(title, layout=False)
        self.query_one(".subtitle", Label).update(panel.caption if panel else "", layout=False)
        self.query_one(HalfBlockImage).panel = panel
