"""Confusion: the whole C x C matrix in the terminal (tui.widgets.confusion_grid), grouped by superclass, a
cursor over its cells; `z` enlarges the cursor's superclass block with the counts and class names; Enter
lists the cell's images in the Images view. 100 classes take 100 columns and 50 lines.
"""

from __future__ import annotations

from typing import Hashable

import numpy as np
from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var

from engine.figures.numbers import pct
from tui.figures import Figure, confusion_matrix
from tui.messages import OpenConfusion, OpenSlice
from tui.model import class_groups
from tui.slices import CELL, SliceSpec
from tui.views.base import Runs, View
from tui.widgets.caption import Caption
from tui.widgets.confusion_grid import ConfusionGrid, Grid


class ConfusionView(View):
    """What the cursor's cell holds, then the matrix."""

    KEY, TAB, TITLE = "7", "confusion", "Confusion"
    OPENS = (OpenConfusion,)
    WRITES = "confusion matrix"
    KEYS = (("arrows", "move"), ("HJKL", "block"), ("z", "zoom"), ("Enter", "open the cell"))
    HELP = [
        ("↑ ↓ ← →  h j k l", "move the cursor one class (rows: true class, columns: predicted)"),
        ("H J K L  shift+arrows", "to the next superclass block"),
        ("d", "to the diagonal (the row's right answers)"),
        ("z", "zoom into the cursor's superclass block (counts and names) · again: the whole matrix"),
        ("Enter", "list the cell's images (true → predicted) in the Images view"),
    ]

    DEFAULT_CSS = """
    ConfusionView > #confusion-info {
        height: 2;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ConfusionView > ConfusionGrid {
        padding: 0 0 0 1;
    }
    """

    BINDINGS = [Binding("escape", "unzoom", "Whole matrix", show=False)]

    info: var[Text] = var(Text)

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(runs, **kwargs)
        order, blocks = class_groups(self.run)
        m = self.run.metrics.confusion
        self.grid = Grid(m[np.ix_(order, order)], order, blocks, self.run.class_names)

    def compose(self) -> ComposeResult:
        yield Caption(id="confusion-info").data_bind(text=ConfusionView.info)
        yield ConfusionGrid(self.grid)

    def on_mount(self) -> None:
        self._describe()

    @property
    def matrix(self) -> ConfusionGrid:
        return self.query_one(ConfusionGrid)

    @on(ConfusionGrid.Moved)
    def _moved(self, event: ConfusionGrid.Moved) -> None:
        event.stop()
        self._describe()

    def _describe(self) -> None:
        run, g = self.run, self.matrix
        if not len(self.grid.order):
            self.info = Text("No classes.")
            return
        t, p = g.cell
        names, m = run.class_names, run.metrics.confusion
        n, support = int(m[t, p]), int(m[t].sum())
        sc = run.metrics.per_class["superclass"]
        where = lambda c: f" ({sc[c]})" if sc[c] else ""  # noqa: E731
        text = Text(f"true {names[t]}{where(t)} → predicted {names[p]}{where(p)}: ", style="bold")
        share = f" ({pct(n / support)} of {names[t]})" if support else ""
        text.append(f"{n:,} image{'s' if n != 1 else ''}{share}")
        if t == p:
            text.append(" · the right answers", style="dim")
        block = self.grid.blocks[self.grid.block_of[g.cursor[0]]][2]
        hint = f"\n{'zoomed into ' + block + ' · ' if g.zoomed else ''}{len(self.grid.order)} classes"
        hint += f" in {len(self.grid.blocks)} blocks · Enter: list them · z: zoom · HJKL: next block"
        text.append(hint, style="dim")
        self.info = text

    @on(ConfusionGrid.Selected)
    def _selected(self, event: ConfusionGrid.Selected) -> None:
        event.stop()
        self.post_message(OpenSlice(SliceSpec(CELL, event.true_id, event.pred_id)))

    # --- the protocol ----------------------------------------------------------------------------------

    def open(self, message: OpenConfusion) -> None:
        if message.true_id >= 0:
            self.matrix.move_to(message.true_id, message.pred_id if message.pred_id >= 0 else message.true_id)
        self.matrix.zoomed = message.zoom

    def focus_primary(self) -> None:
        self.matrix.focus()

    def location(self) -> Hashable:
        g = self.matrix
        return (g.cursor, g.zoomed)

    def restore(self, location: Hashable) -> None:
        cursor, zoomed = location
        self.matrix.cursor, self.matrix.zoomed = cursor, zoomed

    def figure(self) -> Figure:
        return confusion_matrix()

    def action_unzoom(self) -> None:
        """Esc: out of the zoom first; on the whole matrix, Esc is the app's (back)."""
        if not self.matrix.zoomed:
            raise SkipAction()
        self.matrix.zoomed = False
