"""The key list (`?`), as a modal over the current view; any of ? / Esc / q closes it."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.keys import COMPARE_KEYMAP, KEYMAP


def keymap_table(compare: bool = False) -> Table:
    t = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
    t.add_column("view", style="dim", no_wrap=True)
    t.add_column("keys", style="bold", no_wrap=True)
    t.add_column("does")
    rows = KEYMAP + (COMPARE_KEYMAP if compare else [])
    for where, keys, what in rows:
        t.add_row(where, keys, what)
    return t


class HelpScreen(ModalScreen[None]):
    """Shows tui.keys.KEYMAP (and COMPARE_KEYMAP when the app compares two runs)."""

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

    def compose(self) -> ComposeResult:
        compare = getattr(self.app, "old_cache", None) is not None
        box = VerticalScroll(Static(keymap_table(compare), id="keymap"))
        box.border_title = "gradcam-tui keys"
        box.border_subtitle = "? / Esc: close"
        yield box
