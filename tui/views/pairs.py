"""Confused pairs: every (true -> predicted) pair the run has, most frequent first (the reports' top 15 are
its first 15 rows); the highlighted pair's images with both Grad-CAMs and their difference, most
confident mistakes first.

The table's cursor is the one source of the pair on show: moving it (keys, a click, or open() for a pair
asked for elsewhere) posts a highlight, and the highlight sets `place`; nothing sets the cursor from
`place`. A highlight that no longer matches the cursor when it is handled is dropped, so a burst of arrow
keys does the work of its last key, and the handler and the cursor never set each other off. The table
draws only the rows on screen (tui.widgets.virtual_table): 1,500 pairs open as fast as 15.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Hashable

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var

from engine.analysis.faithfulness import MIN_IMAGES, PairGaps, pair_gaps
from engine.figures.examples import pair_examples
from engine.figures.numbers import pct
from engine.figures.panels import pair_example_panels
from tui.figures import Drawing, Figure, example_figure
from tui.messages import OpenClass, OpenPair, OpenSlice
from tui.model import all_pairs, example_caption, faith_cell
from tui.slices import CELL, NO_FAITHFULNESS, SliceSpec
from tui.views.base import Runs, View
from tui.widgets.caption import Caption
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.jet_legend import JetLegend
from tui.widgets.virtual_table import Column, VirtualTable

NOTHING_CONFUSED = "No misclassifications: nothing is confused."
COLUMNS = [Column("#", 5, right=True), Column("true", 0), Column("predicted", 0), Column("n", 5, right=True),
           Column("% of true", 9, right=True), Column("conf", 6, right=True), Column("same sc", 7)]
FAITH_COLUMN = Column("faith gap [95%]", 17, right=True)  # runs with --faithfulness


@dataclass(frozen=True)
class Place:
    """Where the Pairs view is: pair `rank` (1-based; 0 when there is no pair) and its k-th image."""

    rank: int
    k: int = 0


class PairsView(View):
    """Pairs table on top, the current example of the highlighted pair below."""

    KEY, TAB, TITLE = "4", "pairs", "Pairs"
    OPENS = (OpenPair,)
    WRITES = "example"
    KEYS = (("↑↓", "pair"), ("j/k", "example"), ("Enter", "all its images"), ("g G", "classes"), ("v", "panels"))
    HELP = [
        ("↑ ↓  pgup pgdn", "choose a pair (every pair of the run, most frequent first)"),
        ("j k", "next · previous example of the pair"),
        ("Enter", "list all the pair's images in the Images view"),
        ("g  G", "open the true · predicted class"),
        ("v", "the next panels, where not all fit at their pixel size"),
        ("l", "least faithful maps first (runs with --faithfulness; again: most frequent first)"),
    ]

    DEFAULT_CSS = """
    PairsView > VirtualTable {
        height: 1fr;
        max-height: 17;
        min-height: 4;
    }
    PairsView > #pairs-status {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
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
        Binding("j", "step(1)", "Next example", show=False),
        Binding("k", "step(-1)", "Prev example", show=False),
        Binding("g", "open_true", "Open true class", show=False),
        Binding("G", "open_pred", "Open predicted class", show=False),
        Binding("v", "more_panels", "More panels", show=False),
        Binding("l", "least_faithful", "Least faithful first", show=False),
    ]

    place: var[Place | None] = var(None, init=False)
    images: var[list[int]] = var(list)
    caption: var[Text] = var(Text)
    status: var[Text] = var(Text)  # with --faithfulness: the table's order and what its faith column means
    least_faithful: var[bool] = var(False, init=False)  # the table's order: least faithful first, else frequent
    drawing: var[Drawing | None] = var(None)

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(runs, **kwargs)
        self.pairs = all_pairs(self.run)
        f = self.run.faithfulness
        self.faith: PairGaps | None = (pair_gaps(f, self.run.cache.labels, self.run.cache.preds,
                                                 self.pairs["true_id"], self.pairs["pred_id"]) if f.available else None)
        if self.faith:
            self.KEYS = self.KEYS + (("l", "least faithful"),)
        self.order = np.arange(len(self.pairs))  # table row -> pair (its rank - 1)
        self.row_of = self.order
        self.place = Place(1 if len(self.pairs) else 0)

    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS + ([FAITH_COLUMN] if self.faith else []), vi_keys=False, id="pairs-table")
        if self.faith:
            yield Caption(id="pairs-status").data_bind(text=PairsView.status)
        yield Caption(id="pair-caption").data_bind(text=PairsView.caption)
        yield JetLegend(layer=self.run.cache.meta.get("target_layer"))
        yield ExampleFigure().data_bind(PairsView.drawing)

    def on_mount(self) -> None:
        self.table.set_rows(len(self.pairs), self._cells, self.rank - 1 if self.rank else 0)
        if self.faith:
            self.status = Text(self._status_text())

    def _status_text(self) -> str:
        ranked = int((self.faith.n >= MIN_IMAGES).sum())
        order = (f"least faithful first: {ranked} pairs with >= {MIN_IMAGES} sampled errors (more: run with"
                 f" --faithfulness-sample all), then by count · l: by count" if self.least_faithful
                 else "most frequent first · l: least faithful first")
        return f"{order} · faith gap = insertion - deletion AUC of the sampled errors, low = least faithful"

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def _cells(self, row: int) -> list[str | Text]:
        cp, k = self.pairs, int(self.order[row])
        cells = [str(cp["rank"][k]), Text(str(cp["true_name"][k])), Text(str(cp["pred_name"][k])),
                 str(cp["count"][k]), pct(cp["share_of_true"][k]), pct(cp["mean_confidence"][k]),
                 "yes" if cp["same_superclass"][k] else ""]
        if self.faith:
            cells.append(self._faith_cell(k))
        return cells

    def _faith_cell(self, k: int) -> str:
        """The pair's sampled errors' gap: with its interval (bootstrapped on demand) where enough to rank."""
        n = int(self.faith.n[k])
        if n < MIN_IMAGES:
            return faith_cell(n, self.faith.mean[k], np.nan, np.nan)
        e = self.faith.interval(k)
        return faith_cell(n, e.value, e.low, e.high)

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

    @on(VirtualTable.Highlighted)
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        event.stop()
        if event.stale or not len(self.pairs):  # stale: the cursor has moved on since
            return
        rank = int(self.order[event.row]) + 1
        if rank != self.rank:
            self.place = Place(rank)

    @on(VirtualTable.Selected)
    def _selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        if self.rank:
            t, p, _, _ = self._pair(self.rank)
            i = self.images[self.current] if self.images else None
            self.post_message(OpenSlice(SliceSpec(CELL, t, p), i))

    # --- the protocol --------------------------------------------------------------------------------

    def open(self, message: OpenPair) -> None:
        """Move the cursor to pair `message.rank`; its highlight shows the pair."""
        if len(self.pairs):
            self.table.cursor = self._row(max(1, min(message.rank, len(self.pairs))))

    def focus_primary(self) -> None:
        self.table.focus()

    def location(self) -> Hashable:
        return self.place

    def restore(self, location: Hashable) -> None:
        if isinstance(location, Place) and location.rank:
            self.table.cursor = self._row(location.rank)
            self.place = location

    def _row(self, rank: int) -> int:
        """The table row of pair `rank` in the order on show."""
        return int(self.row_of[rank - 1])

    def figure(self) -> Figure | None:
        if not self.rank or not self.images:
            return None
        i = self.images[self.current]
        t, p, _, _ = self._pair(self.rank)
        rank = self.rank

        def words(run) -> tuple[str, list[str], list[str]]:
            names = run.class_names
            return (example_caption(run, i), [f"Confused pair #{rank}: {names[t]} → {names[p]}"],
                    [names[t], "to", names[p]])

        return example_figure(f"example (image {i})", ("pair", i, t, p), pair_example_panels, (i, t, p), words)

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

    def action_least_faithful(self) -> None:
        if not self.faith:
            self.notify(NO_FAITHFULNESS, severity="warning")
            return
        self.least_faithful = not self.least_faithful

    def watch_least_faithful(self, least: bool) -> None:
        """Reorder the table; the pair on show stays on show, under the cursor."""
        self.order = self.faith.least_faithful_first() if least else np.arange(len(self.pairs))
        self.row_of = np.argsort(self.order)
        self.status = Text(self._status_text())
        if len(self.pairs):
            self.table.set_rows(len(self.pairs), self._cells, self._row(self.rank))

    def action_more_panels(self) -> None:
        self.query_one(ExampleFigure).next_page()
