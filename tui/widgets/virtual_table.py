"""A table that draws only the rows on screen, for lists of thousands (every image of a slice, every pair).

A DataTable builds and measures every cell up front (a 10,000-row slice would take seconds); here a row is
formatted when it is drawn, so opening a slice costs the same whatever its size and a key press repaints
one screenful. One header line, one cursor; the window follows the cursor (no scrollbar: the view's status
line says where the cursor is). Cells are plain text, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget


@dataclass(frozen=True)
class Column:
    header: str
    width: int  # cells; 0: whatever the other columns leave
    right: bool = False  # right-aligned (numbers)


Cells = Callable[[int], Sequence["str | Text"]]


class VirtualTable(Widget, can_focus=True):
    """`count` rows whose cells `cells(k)` gives; the cursor (`cursor`) is the highlighted row."""

    DEFAULT_CSS = """
    VirtualTable {
        height: 1fr;
        width: 1fr;
    }
    VirtualTable > .virtual-table--header {
        text-style: bold;
        background: $panel;
    }
    VirtualTable > .virtual-table--cursor {
        background: $block-cursor-blurred-background;
    }
    VirtualTable:focus > .virtual-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    VirtualTable > .virtual-table--odd {
        background: $surface-lighten-1 30%;
    }
    """
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--odd"}

    BINDINGS = [
        Binding("down", "move(1)", "Down", show=False),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("j", "vi_move(1)", "Down", show=False),
        Binding("k", "vi_move(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home", "move_to(0)", "First", show=False),
        Binding("end", "move_to(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor: reactive[int] = reactive(0, init=False, repaint=False)  # watch_cursor repaints what changed

    @dataclass
    class Highlighted(Message):
        """The cursor moved to `row` (a view acts only if it is still the table's cursor when handled)."""

        table: "VirtualTable"
        row: int

        @property
        def stale(self) -> bool:
            return self.row != self.table.cursor

    @dataclass
    class Selected(Message):
        table: "VirtualTable"
        row: int

    def __init__(self, columns: Sequence[Column], vi_keys: bool = True, **kwargs) -> None:
        """`vi_keys`: j/k move the cursor too (else they are left to the view)."""
        super().__init__(**kwargs)
        self.columns = list(columns)
        self.vi_keys = vi_keys
        self.count = 0
        self.cells: Cells = lambda k: ()
        self.top = 0  # the first row in the window

    # --- content ---------------------------------------------------------------------------------------

    def set_rows(self, count: int, cells: Cells, cursor: int = 0) -> None:
        """Show `count` rows of `cells`, the cursor on row `cursor` (a Highlighted follows)."""
        self.count, self.cells = count, cells
        self.top = 0
        cursor = max(0, min(cursor, count - 1))
        if cursor == self.cursor:
            self._follow()
            self.post_message(self.Highlighted(self, cursor))
        else:
            self.cursor = cursor
        self.refresh()

    def redraw(self) -> None:
        """The cells changed (e.g. a verdict column): repaint, keep the cursor."""
        self.refresh()

    @property
    def window(self) -> int:
        return max(self.size.height - 1, 1)

    def _follow(self) -> None:
        w = self.window
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + w:
            self.top = self.cursor - w + 1
        self.top = max(0, min(self.top, max(self.count - w, 0)))

    def watch_cursor(self, old: int, cursor: int) -> None:
        top = self.top
        self._follow()
        if self.top == top:  # the window stays: repaint the two rows that changed, not the screenful
            width = self.size.width
            self.refresh(*(Region(0, row - top + 1, width, 1) for row in (old, cursor)))
        else:
            self.refresh()
        self.post_message(self.Highlighted(self, cursor))

    def on_resize(self) -> None:
        self._follow()

    # --- keys and mouse ----------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if self.count:
            self.cursor = max(0, min(self.cursor + delta, self.count - 1))

    def action_vi_move(self, delta: int) -> None:
        if not self.vi_keys:
            raise SkipAction()
        self.action_move(delta)

    def action_page(self, delta: int) -> None:
        self.action_move(delta * max(self.window - 1, 1))

    def action_move_to(self, row: int) -> None:
        if self.count:
            self.cursor = row % self.count

    def action_select(self) -> None:
        if self.count:
            self.post_message(self.Selected(self, self.cursor))

    def on_click(self, event: events.Click) -> None:
        row = self.top + event.y - 1
        if event.y >= 1 and 0 <= row < self.count:
            if row == self.cursor and event.chain > 1:
                self.action_select()
            self.cursor = row

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_move(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_move(-3)

    # --- drawing ---------------------------------------------------------------------------------------

    def _widths(self, total: int) -> list[int]:
        fixed = sum(c.width + 1 for c in self.columns if c.width)
        flex = [c for c in self.columns if not c.width]
        rest = max(total - fixed - 1 - len(flex), 0)  # the leading space, and one after each flexible column
        return [c.width or max(rest // max(len(flex), 1), 1) for c in self.columns]

    def _line(self, cells: Sequence[str | Text], widths: list[int], style: Style, width: int) -> Strip:
        line = Text(" ", style=style, no_wrap=True, end="")
        for cell, w, col in zip(cells, widths, self.columns):
            text = cell if isinstance(cell, Text) else Text(str(cell))
            text = text.copy()
            text.truncate(w, overflow="ellipsis")
            pad = w - text.cell_len
            if col.right:
                line.append(" " * pad)
                line.append_text(text)
            else:
                line.append_text(text)
                line.append(" " * pad)
            line.append(" ")
        segments = Segment.apply_style(line.render(self.app.console), style)  # no bare segment (NO_COLOR's filter)
        return Strip(segments).crop_extend(0, width, style).simplify()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        widths = self._widths(width)
        if y == 0:
            style = base + self.get_component_rich_style("virtual-table--header")
            return self._line([c.header for c in self.columns], widths, style, width)
        row = self.top + y - 1
        if not 0 <= row < self.count:
            return Strip([Segment(" " * width, base)], width)
        style = base
        if row == self.cursor:
            style = base + self.get_component_rich_style("virtual-table--cursor")
        elif row % 2:
            style = base + self.get_component_rich_style("virtual-table--odd")
        return self._line(self.cells(row), widths, style, width)
