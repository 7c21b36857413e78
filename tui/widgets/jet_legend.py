"""The Grad-CAM colour key, "low ▇▇▇▇ high", drawn from engine.figures.colours' JET table so it is the
exact scale of the panels (and of the key printed on the PNGs)."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from engine.figures.colours import jet_lut

NOTE = "min-max per image · overlays at alpha 0.5"


class JetLegend(Static):
    """One line: label, low, a JET gradient, high. Under NO_COLOR only the words remain meaningful, so
    the gradient becomes the density ramp the images use."""

    DEFAULT_CSS = """
    JetLegend {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, width: int = 24, layer: object = None, **kwargs) -> None:
        """`layer`: the Grad-CAM layer's name (the cache's meta["target_layer"], escaped), said in the note."""
        super().__init__(**kwargs)
        self.bar_width = width
        self.cam_layer = layer if isinstance(layer, str) and layer else None

    def render(self) -> Text:
        text = Text("Grad-CAM  low ")  # the key first: a narrow terminal cuts the note, not the key
        if self.app.no_color:
            from tui.halfblock import SHADES

            steps = np.linspace(0, len(SHADES) - 1, self.bar_width).round().astype(int)
            text.append("".join(SHADES[k] for k in steps))
        else:
            lut = jet_lut()
            for v in np.linspace(0, 255, self.bar_width).round().astype(int):
                r, g, b = (int(c) for c in lut[v])
                text.append(" ", Style(bgcolor=Color.from_rgb(r, g, b)))
        where = f"layer {self.cam_layer} · " if self.cam_layer else ""
        text.append(f" high   ({where}{NOTE})")
        return text
