"""A modal one-line field over a list of what it matches (the finder, the class prompt): typing refills the
list, ↑ ↓ move in it, Enter or a click returns the highlighted entry's value, Esc returns None. A subclass
says what its text matches (`choices`); an entry whose value is None is shown, greyed, and never returned."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option


class PickerScreen(ModalScreen[Any]):
    """Title, subtitle and placeholder of the field; `found` holds the values of the entries listed."""

    TITLE_TEXT, SUBTITLE, PLACEHOLDER = "", "", ""

    DEFAULT_CSS = """
    PickerScreen {
        align: center top;
    }
    PickerScreen > Vertical {
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 80%;
        margin-top: 2;
        border: round $accent;
        background: $surface;
    }
    PickerScreen Input {
        padding: 0 1;
    }
    PickerScreen OptionList {
        border: none;
        height: auto;
        max-height: 20;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("up", "move(-1)", "Up", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.found: list[Any] = []

    def choices(self, text: str) -> list[tuple[str | Text, Any]]:
        """(label, value) of every entry `text` matches, in the order shown."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title, box.border_subtitle = self.TITLE_TEXT, self.SUBTITLE
        with box:  # compact: one line, no border (a bordered Input needs three and would hide the text)
            yield Input(placeholder=self.PLACEHOLDER, id=f"{self.ID_PREFIX}-input", compact=True)
            yield OptionList(id=f"{self.ID_PREFIX}-options")

    ID_PREFIX = "picker"

    def on_mount(self) -> None:
        self._refill("")
        self.query_one(Input).focus()

    def _refill(self, text: str) -> None:
        entries = self.choices(text)
        self.found = [value for _, value in entries]
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(label if isinstance(label, Text) else Text(label), disabled=value is None)
                             for label, value in entries])
        if entries:
            options.highlighted = 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        k = self.query_one(OptionList).highlighted
        if k is not None and k < len(self.found) and self.found[k] is not None:
            self.dismiss(self.found[k])

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if self.found[event.option_index] is not None:
            self.dismiss(self.found[event.option_index])

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        options.action_cursor_down() if delta > 0 else options.action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
