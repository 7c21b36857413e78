"""Classes: every class in one sortable, filterable table; Enter opens it in the Class view.

The filter is view state like the sort: typing sets `filter_text`, which refills the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.actions import SkipAction
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import Input

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.faithfulness import MIN_IMAGES
from engine.figures.numbers import pct
from tui.figures import Figure, class_page
from tui.messages import OpenSlice, WriteFigure
from tui.model import faith_cell
from tui.slices import CLASS, NO_FAITHFULNESS, SliceSpec
from tui.views.base import Runs
from tui.views.class_table import SortableClassTable

if TYPE_CHECKING:  # annotations only: pandas is imported when a table is built, not at start-up
    import pandas as pd

# (header, frame column used for sorting)
COLUMNS = [
    ("id", "class_id"),
    ("class", "class_name"),
    ("superclass", "superclass"),
    ("accuracy", "accuracy"),
    ("errors", "errors"),
    ("top wrong prediction", "top_wrong_prediction"),  # the most frequent wrong prediction (count)
]


FAITH_COLUMN = ("faith gap [95%]", "faith_sort")  # runs with --faithfulness: low = least faithful maps


def classes_frame(run: AnalysedRun) -> pd.DataFrame:
    """One row per class; with --faithfulness also its maps' faithfulness gap, interval and sample size, and
    `faith_sort`: the gap of the classes ranked by it (enough sampled images), NaN (sorted last) for the rest."""
    pc = run.metrics.per_class.frame
    df = pc[["class_id", "class_name", "superclass", "accuracy", "top_wrong_prediction", "top_wrong_count"]].copy()
    df["errors"] = pc["support"] - pc["correct"]
    if run.faithfulness.available:
        ft = run.faithfulness_per_class.frame
        for name in ("n", "gap", "gap_low", "gap_high", "least_faithful_rank"):
            df[f"faith_{name}"] = ft[name].to_numpy()
        df["faith_sort"] = df["faith_gap"].where(df["faith_least_faithful_rank"] > 0)
    return df


class ClassesView(SortableClassTable):
    """Filter box, table, and a status line saying how it is sorted and how many classes match."""

    KEY, TAB, TITLE = "2", "classes", "Classes"
    WRITES = "class page"
    KEYS = (("↑↓", "class"), ("Enter", "open"), ("i", "its images"), ("f", "filter"), ("s r", "sort"))
    HELP = [
        ("f", "filter by name as you type (Enter: to the table, Esc: clear)"),
        ("s  r", "cycle the sort column · reverse it (or click a header)"),
        ("l", "least faithful maps first (runs with --faithfulness; again: back to the id order)"),
        ("↑ ↓  Enter", "move · open the class"),
        ("i", "list every image of the highlighted class (Images view)"),
        ("W", "write the highlighted class's page as a PNG"),
    ]
    COLUMNS = COLUMNS
    TABLE_ID = "classes-table"
    STATUS_ID = "classes-status"

    DEFAULT_CSS = """
    ClassesView > Input {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    ClassesView > Input:focus {
        border: none;
        background: $primary 30%;
    }
    ClassesView > DataTable {
        height: 1fr;
    }
    ClassesView > #classes-status {
        height: 1;
        color: $text-muted;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("f", "filter", "Filter", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("i", "all_images", "All images", show=False),
        Binding("W", "write_page", "Write page", show=False),
        Binding("l", "least_faithful", "Least faithful first", show=False),
    ]

    filter_text: var[str] = var("", init=False)

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(runs, **kwargs)
        self.frame = classes_frame(self.run)
        self.faithful = "faith_sort" in self.frame
        if self.faithful:
            self.COLUMNS = COLUMNS + [FAITH_COLUMN]
            self.KEYS = self.KEYS + (("l", "least faithful"),)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="f: filter classes by name", id="classes-filter")
        yield self.make_table()
        yield self.make_status()

    def on_mount(self) -> None:
        self.refill()

    def figure(self) -> Figure | None:
        c = self.highlighted_class()
        return None if c is None else class_page(c)

    def visible_frame(self) -> pd.DataFrame:
        df = self.frame
        if self.filter_text:
            df = df[df["class_name"].str.contains(self.filter_text, case=False, regex=False)]
        return self.sorted_frame(df)

    def row_cells(self, r) -> list[str]:
        wrong = f"{r.top_wrong_prediction} ({r.top_wrong_count})" if r.top_wrong_prediction else ""
        cells = [str(r.class_id), r.class_name, r.superclass, pct(r.accuracy), str(r.errors), wrong]
        if self.faithful:
            cells.append(faith_cell(r.faith_n, r.faith_gap, r.faith_gap_low, r.faith_gap_high))
        return cells

    def status_text(self, shown: pd.DataFrame, arrow: str) -> Text:
        text = f"{len(shown)} of {len(self.frame)} classes"
        if self.filter_text:
            text += f" matching “{self.filter_text}”"
        header, key = self.COLUMNS[self.sort_column]
        text += f" · sorted by {header} {arrow}"
        if key == FAITH_COLUMN[1]:
            text += f" (insertion - deletion AUC, low = least faithful; ranked from {MIN_IMAGES} sampled images)"
        # Text: a typed filter is never parsed as markup
        least = " · l least faithful" if self.faithful else ""
        return Text(f"{text} · s sort · r reverse{least} · f filter · Enter open")

    def watch_filter_text(self) -> None:
        self.refill()

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        """Esc: clear the filter (from the box or the table); with no filter, Esc is the app's (back)."""
        box = self.query_one(Input)
        if not box.value and not box.has_focus:
            raise SkipAction()
        box.value = ""
        self.table.focus()

    def action_least_faithful(self) -> None:
        if not self.faithful:
            self.notify(NO_FAITHFULNESS, severity="warning")
            return
        faith = len(self.COLUMNS) - 1
        if self.sort_column == faith and not self.sort_reverse:
            self.sort_column = 0
        else:
            self.sort_reverse = False
            self.sort_column = faith

    def action_all_images(self) -> None:
        c = self.highlighted_class()
        if c is not None:
            self.post_message(OpenSlice(SliceSpec(CLASS, c)))

    def action_write_page(self) -> None:
        c = self.highlighted_class()
        if c is not None:
            self.post_message(WriteFigure(class_page(c)))

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted)
    def _filter_done(self) -> None:
        self.table.focus()
