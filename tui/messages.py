"""Messages the views post to the app: small dataclasses, so a view never reaches into another view.

A view says what the user asked for; the app hands it to the view that OPENS it and shows that tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message


@dataclass
class OpenClass(Message):
    """Show class `class_id` in the Class view (from the Classes table, `g` on an example, a pair)."""

    class_id: int


@dataclass
class OpenPair(Message):
    """Show confused pair `rank` (1-based into AnalysedRun.metrics.confused_pairs) in the Pairs view."""

    rank: int


@dataclass
class FigureWritten(Message):
    """`w` wrote a PNG (the app posts it to itself; tests and embedding code can wait for it)."""

    path: Path
