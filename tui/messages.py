"""Messages the views post to the app: small dataclasses, so a view never reaches into another view.

A view says what the user asked for; the app remembers where the user was (for Esc), hands the message to
the view that OPENS it and shows that tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Hashable

from textual.message import Message

from tui.slices import SliceSpec


@dataclass
class OpenClass(Message):
    """Show class `class_id` in the Class view (from the Classes table, `g` on an example, a pair)."""

    class_id: int


@dataclass
class OpenPair(Message):
    """Show confused pair `rank` (1-based, among every pair of the run, most frequent first) in the Pairs view."""

    rank: int


@dataclass
class OpenSlice(Message):
    """List the images of slice `spec` in the Images view, the cursor on image `image` if it is in it."""

    spec: SliceSpec
    image: int | None = None


@dataclass
class OpenConfusion(Message):
    """Show the confusion matrix with the cursor on cell (true `true_id`, predicted `pred_id`); `zoom`:
    enlarged to the superclass block of that cell."""

    true_id: int = -1
    pred_id: int = -1
    zoom: bool = False


@dataclass
class Leaving(Message):
    """A view is about to move away from `location` (View.location()) on its own: the app remembers it, so
    Esc comes back to it."""

    tab: str
    location: Hashable


@dataclass
class WriteFigure(Message):
    """Write `figure` (a tui.figures.Figure), as `w` does with the figure on screen (e.g. a class's page)."""

    figure: object


@dataclass
class FigureWritten(Message):
    """`w` wrote a PNG (the app posts it to itself; tests and embedding code can wait for it)."""

    path: Path
