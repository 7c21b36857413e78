"""Classes: every class in one sortable, filterable table; Enter opens it in the Class view.

The table is rebuilt from the per-class DataFrame on each sort or keystroke of the filter: a hundred rows
take about a millisecond, and sorting the frame (not the rendered cells) keeps numbers sorted as numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import Input, Static

from engine.cache import RunCache
from tui.model import pct
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


def classes_frame(cache: RunCache) -> pd.DataFrame:
    pc = cache.analysis.per_class
    df = pc[["class_id", "class_name", "superclass", "accuracy", "top_wrong_prediction", "top_wrong_count"]].copy()
    df["errors"] = pc["support"] - pc["correct"]
    return df


class ClassesView(SortableClassTable):
    """Filter box, table, and a status line saying how it is sorted and how many classes match."""

    COLUMNS = COLUMNS
    TABLE_ID = "classes-table"

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
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    filter_text: reactive[str] = reactive("")

    def __init__(self, cache: RunCache, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self.frame = classes_frame(cache)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter classes by name", id="classes-filter")
        yield self.make_table()
        yield Static(id="classes-status")

    def on_mount(self) -> None:
        self.refill()

    def visible_frame(self) -> pd.DataFrame:
        df = self.frame
        if self.filter_text:
            df = df[df["class_name"].str.contains(self.filter_text, case=False, regex=False)]
        return self.sorted_frame(df)

    def row_cells(self, r) -> list[str]:
        wrong = f"{r.top_wrong_prediction} ({r.top_wrong_count})" if r.top_wrong_prediction else ""
        return [str(r.class_id), r.class_name, r.superclass, pct(r.accuracy), str(r.errors), wrong]

    def update_status(self, shown: pd.DataFrame, arrow: str) -> None:
        text = f"{len(shown)} of {len(self.frame)} classes"
        if self.filter_text:
            text += f" matching “{self.filter_text}”"
        self.query_one("#classes-status", Static).update(  # Text: a typed filter is never parsed as markup
            Text(f"{text} · sorted by {COLUMNS[self.sort_column][0]} {arrow} · s sort · r reverse · / filter · Enter open")
        )

    def watch_filter_text(self) -> None:
        if self.is_mounted:
            self.refill()

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.table.focus()

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted)
    def _filter_done(self) -> None:
        self.table.focus()
