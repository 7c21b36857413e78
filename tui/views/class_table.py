"""A view built around one per-class DataTable keyed by class id: sortable by any column (`s` cycles the
column, `r` reverses, a header click does either), the highlighted class kept across refills, Enter opens
the class. The Classes and Compare views share it; each says which columns, rows and status line it shows.

The sort is view state (reactives); the status line is bound to it. The table is refilled from the pandas
frame on each change: a hundred rows take about a millisecond, and sorting the frame (not the rendered
cells) keeps numbers sorted as numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import DataTable

from tui.messages import OpenClass
from tui.views.base import View
from tui.widgets.caption import Caption

if TYPE_CHECKING:  # annotations only: pandas is imported when a table is built, not at start-up
    import pandas as pd


class SortableClassTable(View):
    COLUMNS: ClassVar[list[tuple[str, str]]] = []  # (header, frame column used for sorting)
    TABLE_ID: ClassVar[str] = "class-table"
    STATUS_ID: ClassVar[str] = "class-table-status"

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort column"),
        Binding("r", "reverse_sort", "Reverse"),
    ]

    sort_column: var[int] = var(0, init=False)
    sort_reverse: var[bool] = var(False, init=False)
    status: var[Text] = var(Text)  # the line under the table: how it is sorted, how many rows

    frame: pd.DataFrame | None = None

    def make_table(self) -> DataTable:
        table: DataTable = DataTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        for header, _ in self.COLUMNS:
            table.add_column(header, key=header)
        return table

    def make_status(self, **kwargs) -> Caption:
        return Caption(id=self.STATUS_ID, **kwargs).data_bind(text=SortableClassTable.status)

    @property
    def table(self) -> DataTable:
        return self.query_one(f"#{self.TABLE_ID}", DataTable)

    def sorted_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        key = self.COLUMNS[self.sort_column][1]
        return df.sort_values([key, "class_id"], ascending=[not self.sort_reverse, True], kind="mergesort")

    def visible_frame(self) -> pd.DataFrame:
        return self.sorted_frame(self.frame)

    def row_cells(self, row: Any) -> list[str]:
        raise NotImplementedError

    def status_text(self, shown: pd.DataFrame, arrow: str) -> Text:
        raise NotImplementedError

    def refill(self) -> None:
        if self.frame is None:
            return
        table = self.table
        keep = self.highlighted_class()
        df = self.visible_frame()
        table.clear()
        for r in df.itertuples(index=False):
            table.add_row(*(Text(cell) for cell in self.row_cells(r)), key=str(r.class_id))  # never markup
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)), animate=False)
        self.status = self.status_text(df, "↓" if self.sort_reverse else "↑")

    def highlighted_class(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        return int(key.value) if key.value is not None else None

    def focus_primary(self) -> None:
        self.table.focus()

    def location(self):
        return self.highlighted_class() if self.is_mounted else None

    def restore(self, location) -> None:
        table = self.table
        if location is not None and str(location) in table.rows:
            table.move_cursor(row=table.get_row_index(str(location)), animate=False)

    def watch_sort_column(self) -> None:
        self.refill()

    def watch_sort_reverse(self) -> None:
        self.refill()

    def action_cycle_sort(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(self.COLUMNS)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse

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
