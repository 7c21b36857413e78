"""Label suspects: test images whose given label the model doubts (AnalysedRun.suspects, ranked by margin).
Enter on a row shows that image with the Grad-CAMs of the given and of the suggested class.

Finding them takes a moment on 10,000 images, so it runs in a thread the first time the tab is shown,
behind a loading indicator.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.reactive import var
from textual.widgets import DataTable, LoadingIndicator

from engine.analysis.tables import Table
from engine.console import visible
from engine.figures.numbers import pct
from engine.figures.panels import suspect_panels
from tui.figures import Drawing
from tui.views.base import View
from tui.widgets.caption import Caption
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.jet_legend import JetLegend

COLUMNS = ("#", "image", "given", "suggested", "p given", "p suggested")
FINDING = "Finding label suspects (calibration, attention, confident learning)…"


class SuspectsView(View):
    """Suspects table on top; the chosen image with both Grad-CAMs below."""

    KEY, TAB, TITLE = "6", "suspects", "Suspects"
    HELP = [("↑ ↓  Enter", "move · show the image with the Grad-CAMs of the given and suggested label")]

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

    suspects: var[Table | None] = var(None, init=False)  # once found
    chosen: var[int] = var(0, init=False)  # rank (1-based) of the suspect on show; 0: none yet
    status: var[Text] = var(lambda: Text(FINDING))
    caption: var[Text] = var(Text)
    drawing: var[Drawing | None] = var(None)

    asked = False  # whether the suspects have been asked for (activate() asks once)

    def compose(self) -> ComposeResult:
        yield Caption(id="suspects-status", classes="caption").data_bind(text=SuspectsView.status)
        yield LoadingIndicator()
        table: DataTable = DataTable(id="suspects-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        table.display = False
        yield table
        yield Caption(id="suspect-caption", classes="caption").data_bind(text=SuspectsView.caption)
        yield JetLegend()
        yield ExampleFigure().data_bind(SuspectsView.drawing)

    @property
    def image(self) -> int | None:
        """The image on show."""
        return int(self.suspects["image"][self.chosen - 1]) if self.suspects is not None and self.chosen else None

    def activate(self) -> None:
        if not self.asked:
            self.asked = True
            self._find()

    def focus_primary(self) -> None:
        self.query_one(DataTable).focus()

    @work(thread=True, exclusive=True, group="suspects")
    def _find(self) -> None:
        try:
            suspects = self.run.suspects
        except Exception as exc:  # a bug there must not take the browser down
            self.app.call_from_thread(self._failed, visible(
                f"Could not compute the label suspects: {type(exc).__name__}: {exc}"))
            return
        self.app.call_from_thread(setattr, self, "suspects", suspects)

    def _failed(self, text: str) -> None:
        self.query_one(LoadingIndicator).remove()
        self.status = Text(text)

    def watch_suspects(self, suspects: Table) -> None:
        self.query_one(LoadingIndicator).remove()
        table = self.query_one(DataTable)
        s = suspects
        for k in range(len(s)):
            table.add_row(str(s["rank"][k]), str(s["image"][k]), Text(str(s["given"][k])),  # names, not markup
                          Text(str(s["suggested"][k])), pct(s["p_given"][k]), pct(s["p_suggested"][k]),
                          key=str(s["rank"][k]))
        table.display = True
        n = len(s)
        if n:
            self.status = Text(f"{n} label suspect{'s' if n != 1 else ''} (another class clears its own threshold "
                               "and beats the given label), largest margin first")
            self.caption = Text("Enter: show the image with the Grad-CAMs of both labels")
        else:
            self.status = Text("No label suspects: the model agrees with the given labels.")
        if self.shown:  # still on this tab: the table takes the keys
            table.focus()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.chosen = int(event.row_key.value)

    def watch_chosen(self, rank: int) -> None:
        """Suspect `rank`: original, Grad-CAM of the given and of the suggested class."""
        s, r = self.suspects, rank - 1
        i, given, suggested = int(s["image"][r]), int(s["given_id"][r]), int(s["suggested_id"][r])
        caption = (f"#{rank} image {i}: given {s['given'][r]} ({pct(float(s['p_given'][r]))}) → suggested "
                   f"{s['suggested'][r]} ({pct(float(s['p_suggested'][r]))})")
        if self.run.cache.cam_for(i, suggested) is None:
            caption += f" · no stored Grad-CAM for {s['suggested'][r]}"
        self.caption = Text(caption)
        self.drawing = Drawing(("suspect", i, given, suggested), suspect_panels, (self.run.cache, i, given, suggested))
