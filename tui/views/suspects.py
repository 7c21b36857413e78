"""Label suspects: test images whose given label the model doubts (cache.diagnostics.suspects, ranked by
margin). Enter on a row shows that image with the Grad-CAMs of the given and of the suggested class.

The diagnostics take ~2 s on 10,000 images, so they are computed in a thread on first view, behind a
loading indicator.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, LoadingIndicator, Static

from engine.cache import RunCache
from engine.console import visible
from tui.figures import safely, suspect_panels
from tui.model import pct
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.jet_legend import JetLegend

COLUMNS = ("#", "image", "given", "suggested", "p given", "p suggested")


class SuspectsView(Vertical):
    """Suspects table on top; the chosen image with both Grad-CAMs below."""

    DEFAULT_CSS = """
    SuspectsView > DataTable {
        height: 1fr;
        max-height: 15;
        min-height: 4;
    }
    SuspectsView > LoadingIndicator {
        height: 3;
    }
    SuspectsView > .caption {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    SuspectsView > ExampleFigure {
        height: 2fr;
        padding: 0 0 0 1;
    }
    """

    def __init__(self, cache: RunCache, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self.loaded = False
        self.suspects = None  # the DataFrame, once computed
        self.image: int | None = None  # the image on show

    def compose(self) -> ComposeResult:
        yield Static("Finding label suspects (calibration, attention, confident learning)…", id="suspects-status",
                     classes="caption")
        yield LoadingIndicator()
        table: DataTable = DataTable(id="suspects-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        table.display = False
        yield table
        yield Static(id="suspect-caption", classes="caption")
        yield JetLegend()
        yield ExampleFigure()

    def focus_primary(self) -> None:
        self.query_one(DataTable).focus()

    def load(self) -> None:
        if not self.loaded:
            self.loaded = True
            self._compute()

    @work(thread=True, exclusive=True, group="suspects")
    def _compute(self) -> None:
        try:
            suspects = self.cache.diagnostics.suspects
        except Exception as exc:  # a bug there must not take the browser down
            self.app.call_from_thread(self._failed, visible(f"Could not compute the label suspects: {type(exc).__name__}: {exc}"))
            return
        self.app.call_from_thread(self._fill, suspects)

    def _failed(self, text: str) -> None:
        self.query_one(LoadingIndicator).remove()
        self.query_one("#suspects-status", Static).update(Text(text))

    def _fill(self, suspects) -> None:
        self.suspects = suspects
        self.query_one(LoadingIndicator).remove()
        table = self.query_one(DataTable)
        for r in suspects.itertuples(index=False):
            table.add_row(str(r.rank), str(r.image), Text(str(r.given)), Text(str(r.suggested)),  # names, not markup
                          pct(r.p_given), pct(r.p_suggested), key=str(r.rank))
        table.display = True
        n = len(suspects)
        status = self.query_one("#suspects-status", Static)
        if n:
            status.update(f"{n} label suspect{'s' if n != 1 else ''} (another class clears its own threshold and "
                          "beats the given label), largest margin first")
            self.query_one("#suspect-caption", Static).update("Enter: show the image with the Grad-CAMs of both labels")
        else:
            status.update("No label suspects: the model agrees with the given labels.")
        if getattr(self.app, "active_view", None) == "suspects":  # still on this tab: the table takes the keys
            table.focus()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show_suspect(int(event.row_key.value))

    def show_suspect(self, rank: int) -> None:
        """Draw suspect `rank` (1-based): original, Grad-CAM of the given and of the suggested class."""
        if self.suspects is None or not 1 <= rank <= len(self.suspects):
            return
        s = self.suspects.iloc[rank - 1]
        i, given, suggested = int(s["image"]), int(s["given_id"]), int(s["suggested_id"])
        self.image = i
        caption = (f"#{rank} image {i}: given {s['given']} ({pct(float(s['p_given']))}) → suggested "
                   f"{s['suggested']} ({pct(float(s['p_suggested']))})")
        if self.cache.cam_for(i, suggested) is None:
            caption += f" · no stored Grad-CAM for {s['suggested']}"
        self.query_one("#suspect-caption", Static).update(Text(caption), layout=False)
        self._draw(i, given, suggested)

    @work(thread=True, exclusive=True, group="suspect-figure")
    def _draw(self, i: int, given: int, suggested: int) -> None:
        panels = safely(suspect_panels, self.cache, i, given, suggested)
        self.app.call_from_thread(self._drawn, i, panels)

    def _drawn(self, i: int, panels) -> None:
        if i == self.image:  # still what is asked for
            self.query_one(ExampleFigure).show(panels)
