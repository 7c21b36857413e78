"""Confused pairs: the top (true -> predicted) pairs; the highlighted pair's images with both Grad-CAMs
and their difference, most confident mistakes first.

The table's cursor is the one source of the pair on show: moving it (arrow keys, a click, or open() for a
pair asked for elsewhere) highlights a row, and the highlight sets `place`; nothing sets the cursor from
`place`. So a burst of arrow keys is a burst of highlights, of which only the one matching the cursor when
it is handled does any work, and the handler and the cursor never set each other off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import DataTable

from engine.figures.examples import pair_examples
from engine.figures.numbers import pct
from engine.figures.panels import pair_example_panels
from tui.figures import Drawing, Figure
from tui.messages import OpenClass, OpenPair
from tui.model import example_caption
from tui.views.base import Runs, View
from tui.widgets.caption import Caption
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.jet_legend import JetLegend

NOTHING_CONFUSED = "No misclassifications: nothing is confused."


@dataclass(frozen=True)
class Place:
    """Where the Pairs view is: pair `rank` (1-based; 0 when there is no pair) and its k-th image."""

    rank: int
    k: int = 0


class PairsView(View):
    """Pairs table on top, the current example of the highlighted pair below."""

    KEY, TAB, TITLE = "4", "pairs", "Pairs"
    OPENS = (OpenPair,)
    WRITES = "confused pair"
    HELP = [
        ("↑ ↓", "choose a pair"),
        ("j k", "next · previous example of the pair"),
        ("g  G", "open the true · predicted class"),
    ]

    DEFAULT_CSS = """
    PairsView > DataTable {
        height: 1fr;
        max-height: 17;
        min-height: 4;
    }
    PairsView > #pair-caption {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    PairsView > ExampleFigure {
        height: 2fr;
        padding: 0 0 0 1;
    }
    """

    BINDINGS = [
        Binding("j", "step(1)", "Next example"),
        Binding("k", "step(-1)", "Prev example"),
        Binding("g", "open_true", "Open true class"),
        Binding("G", "open_pred", "Open predicted class"),
    ]

    place: var[Place | None] = var(None, init=False)
    images: var[list[int]] = var(list)
    caption: var[Text] = var(Text)
    drawing: var[Drawing | None] = var(None)

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(runs, **kwargs)
        self.pairs = self.run.metrics.confused_pairs
        self.place = Place(1 if len(self.pairs) else 0)

    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(id="pairs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "true", "predicted", "n", "% of true", "conf", "same sc")
        cp = self.pairs
        for k in range(len(cp)):
            table.add_row(  # names as Text: a class named '[/]' is a name, not markup
                str(cp["rank"][k]), Text(str(cp["true_name"][k])), Text(str(cp["pred_name"][k])), str(cp["count"][k]),
                pct(cp["share_of_true"][k]), pct(cp["mean_confidence"][k]), "yes" if cp["same_superclass"][k] else "",
                key=str(cp["rank"][k]),
            )
        yield table
        yield Caption(id="pair-caption").data_bind(text=PairsView.caption)
        yield JetLegend()
        yield ExampleFigure().data_bind(PairsView.drawing)

    # --- state ---------------------------------------------------------------------------------------

    @property
    def rank(self) -> int:
        return self.place.rank if self.place else 0

    @property
    def current(self) -> int:
        return self.place.k if self.place else 0

    def _pair(self, rank: int) -> tuple[int, int, str, str]:
        cp, r = self.pairs, rank - 1
        return int(cp["true_id"][r]), int(cp["pred_id"][r]), str(cp["true_name"][r]), str(cp["pred_name"][r])

    def watch_place(self, old: Place | None, place: Place) -> None:
        if not place.rank:
            self.images, self.caption, self.drawing = [], Text(NOTHING_CONFUSED), None
            return
        t, p, true_name, pred_name = self._pair(place.rank)
        if old is None or old.rank != place.rank:
            self.images = pair_examples(self.run.cache, t, p)
        if not self.images:
            return
        i = self.images[place.k]
        text = Text(f"#{place.rank} {true_name} → {pred_name} · example {place.k + 1}/{len(self.images)} · ",
                    style="bold")
        text.append(example_caption(self.run, i))
        self.caption = text
        self.drawing = Drawing(("pair", i, t, p), pair_example_panels, (self.run.cache, i, t, p))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row != event.data_table.cursor_row:  # stale: the cursor has moved on since
            return
        if event.row_key.value is not None and int(event.row_key.value) != self.rank:
            self.place = Place(int(event.row_key.value))

    # --- the protocol --------------------------------------------------------------------------------

    def open(self, message: OpenPair) -> None:
        """Move the cursor to pair `message.rank`; its highlight shows the pair."""
        if len(self.pairs):
            row = max(1, min(message.rank, len(self.pairs))) - 1
            self.query_one(DataTable).move_cursor(row=row, animate=False)

    def focus_primary(self) -> None:
        self.query_one(DataTable).focus()

    def figure(self) -> Figure | None:
        return Figure("pair", self.rank) if self.rank else None

    # --- keys ----------------------------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        if self.rank and self.images:
            self.place = replace(self.place, k=(self.current + delta) % len(self.images))

    def action_open_true(self) -> None:
        if self.rank:
            self.post_message(OpenClass(self._pair(self.rank)[0]))

    def action_open_pred(self) -> None:
        if self.rank:
            self.post_message(OpenClass(self._pair(self.rank)[1]))
