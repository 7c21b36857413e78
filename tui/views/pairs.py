"""Confused pairs: the top (true -> predicted) pairs; the highlighted pair's images with both Grad-CAMs
and their difference, most confident mistakes first."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from engine.cache import RunCache
from tui.figures import pair_example_panels, safely
from tui.messages import OpenClass
from tui.model import example_caption, pair_examples, pct
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.jet_legend import JetLegend


class PairsView(Vertical):
    """Pairs table on top, the current example of the highlighted pair below."""

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

    def __init__(self, cache: RunCache, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self.pairs = cache.analysis.confused_pairs
        self.rank = 1 if len(self.pairs) else 0
        self.images: list[int] = []
        self.current = 0

    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(id="pairs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "true", "predicted", "n", "% of true", "conf", "same sc")
        for r in self.pairs.itertuples(index=False):
            table.add_row(  # names as Text: a class named '[/]' is a name, not markup
                str(r.rank), Text(str(r.true_name)), Text(str(r.pred_name)), str(r.count), pct(r.share_of_true), pct(r.mean_confidence),
                "yes" if r.same_superclass else "", key=str(r.rank),
            )
        yield table
        yield Static(id="pair-caption")
        yield JetLegend()
        yield ExampleFigure()

    def on_mount(self) -> None:
        self.show_pair(self.rank)

    def focus_primary(self) -> None:
        self.query_one(DataTable).focus()

    def _pair(self):
        return self.pairs.iloc[self.rank - 1] if self.rank else None

    def show_pair(self, rank: int) -> None:
        """Select pair `rank` (1-based) and draw its most confident example."""
        table = self.query_one(DataTable)
        if not len(self.pairs):
            self.query_one("#pair-caption", Static).update("No misclassifications: nothing is confused.")
            self.query_one(ExampleFigure).show([])
            return
        self.rank = max(1, min(rank, len(self.pairs)))
        if table.cursor_row != self.rank - 1:
            table.move_cursor(row=self.rank - 1, animate=False)
        p = self._pair()
        self.images = pair_examples(self.cache, int(p.true_id), int(p.pred_id))
        self.show_example(0)

    def show_example(self, k: int) -> None:
        p = self._pair()
        if p is None or not self.images:
            return
        self.current = k % len(self.images)
        i = self.images[self.current]
        text = Text(
            f"#{self.rank} {p.true_name} → {p.pred_name} · example {self.current + 1}/{len(self.images)} · ",
            style="bold",
        )
        text.append(example_caption(self.cache, i))
        self.query_one("#pair-caption", Static).update(text, layout=False)
        self._draw(self.rank, i, int(p.true_id), int(p.pred_id))

    @work(thread=True, exclusive=True, group="pair-figure")
    def _draw(self, rank: int, i: int, true_id: int, pred_id: int) -> None:
        """Panels off the UI thread: the first one imports matplotlib's colour tables (~0.3 s)."""
        panels = safely(pair_example_panels, self.cache, i, true_id, pred_id)
        self.app.call_from_thread(self._drawn, rank, i, panels)

    def _drawn(self, rank: int, i: int, panels) -> None:
        if rank == self.rank and self.images and self.images[self.current] == i:  # still what is asked for
            self.query_one(ExampleFigure).show(panels)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and int(event.row_key.value) != self.rank:
            self.show_pair(int(event.row_key.value))

    def action_step(self, delta: int) -> None:
        self.show_example(self.current + delta)

    def action_open_true(self) -> None:
        p = self._pair()
        if p is not None:
            self.post_message(OpenClass(int(p.true_id)))

    def action_open_pred(self) -> None:
        p = self._pair()
        if p is not None:
            self.post_message(OpenClass(int(p.pred_id)))
