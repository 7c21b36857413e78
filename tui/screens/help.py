"""The key list (`?`), as a modal over the current view; any of ? / Esc / q closes it."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def keymap_table(rows: list[tuple[str, str, str]]) -> Table:
    t = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
    t.add_column("view", style="dim", no_wrap=True)
    t.add_column("keys", style="bold", no_wrap=True)
    t.add_column("does")
    for where, keys, what in rows:
        t.add_row(where, keys, what)
    return t


class HelpScreen(ModalScreen[None]):
    """Shows the key list it is given (tui.keys.keymap of the session's views)."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen Static {
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        box = VerticalScroll(Static(keymap_table(self.rows), id="keymap"))
        box.border_title = "gradcam-tui keys"
        box.border_subtitle = "? / Esc: close"
        yield box
