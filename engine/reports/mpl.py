"""matplotlib without pyplot: a Figure on the Agg canvas, saved atomically (no global backend state, so it
is safe in worker processes and inside the TUI)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.store.atomic import write_bytes
from engine.reports.png import encode_png


def new_figure(width_in: float, height_in: float, dpi: int = 100) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def plain(text: str) -> str:
    """A string that matplotlib draws literally (no $math$)."""
    return str(text).replace("$", r"\$")


def save_figure(fig: Figure, target: Path) -> Path:
    """Draw with Agg and write the pixels with the fast PNG encoder (same size as savefig at fig.dpi)."""
    with warnings.catch_warnings():
        # a class name in a script DejaVu lacks (e.g. CJK) is drawn as boxes; say nothing about it per glyph
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return write_bytes(target, encode_png(rgba[..., :3]))
