"""Classes: every class in one sortable, filterable table; Enter opens it in the Class view.

The table is rebuilt from the per-class DataFrame on each sort or keystroke of the filter: a hundred rows
take about a millisecond, and sorting the frame (not the rendered cells) keeps numbers sorted as numbers.
"""

from __future__ import annotations

import pandas as pd
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from engine.cache import RunCache
from tui.messages import OpenClass
from tui.model import pct

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


class ClassesView(Vertical):
    """Filter box, table, and a status line saying how it is sorted and how many classes match."""

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
        Binding("s", "cycle_sort", "Sort column"),
        Binding("r", "reverse_sort", "Reverse"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    sort_column: reactive[int] = reactive(0)
    sort_reverse: reactive[bool] = reactive(False)
    filter_text: reactive[str] = reactive("")

    def __init__(self, cache: RunCache, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self.frame = classes_frame(cache)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter classes by name", id="classes-filter")
        table: DataTable = DataTable(id="classes-table", cursor_type="row", zebra_stripes=True)
        for header, _ in COLUMNS:
            table.add_column(header, key=header)
        yield table
        yield Static(id="classes-status")

    def on_mount(self) -> None:
        self.refill()

    @property
    def table(self) -> DataTable:
        return self.query_one("#classes-table", DataTable)

    def visible_frame(self) -> pd.DataFrame:
        df = self.frame
        if self.filter_text:
            df = df[df["class_name"].str.contains(self.filter_text, case=False, regex=False)]
        key = COLUMNS[self.sort_column][1]
        return df.sort_values([key, "class_id"], ascending=[not self.sort_reverse, True], kind="mergesort")

    def refill(self) -> None:
        table = self.table
        keep = self.highlighted_class()
        df = self.visible_frame()
        table.clear()
        for r in df.itertuples(index=False):
            wrong = f"{r.top_wrong_prediction} ({r.top_wrong_count})" if r.top_wrong_prediction else ""
            table.add_row(
                str(r.class_id), r.class_name, r.superclass, pct(r.accuracy), str(r.errors), wrong, key=str(r.class_id)
            )
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)), animate=False)
        arrow = "↓" if self.sort_reverse else "↑"
        shown = f"{len(df)} of {len(self.frame)} classes"
        if self.filter_text:
            shown += f" matching “{self.filter_text}”"
        self.query_one("#classes-status", Static).update(
            f"{shown} · sorted by {COLUMNS[self.sort_column][0]} {arrow} · "
            "s sort · r reverse · / filter · Enter open"
        )

    def highlighted_class(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        return int(key.value) if key.value is not None else None

    def focus_primary(self) -> None:
        self.table.focus()

    def watch_sort_column(self) -> None:
        if self.is_mounted:
            self.refill()

    def watch_sort_reverse(self) -> None:
        if self.is_mounted:
            self.refill()

    def watch_filter_text(self) -> None:
        if self.is_mounted:
            self.refill()

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_cycle_sort(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.table.focus()

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted)
    def _filter_done(self) -> None:
        self.table.focus()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        if event.column_index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = event.column_index

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenClass(int(event.row_key.value)))
