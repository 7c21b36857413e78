"""`m`: type a class name to draw its Grad-CAM of the image on screen. The classes whose name starts with the
words come first (then those that contain them, as the finder matches); Enter picks the highlighted one,
Esc closes. The screen returns the class id, or None."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from tui.screens.finder import classes_matching

MAX_SHOWN = 30


class ClassPrompt(ModalScreen[int | None]):
    """An input over the run's class names and what it matches."""

    DEFAULT_CSS = """
    ClassPrompt {
        align: center top;
    }
    ClassPrompt > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        max-height: 80%;
        margin-top: 2;
        border: round $accent;
        background: $surface;
    }
    ClassPrompt Input {
        padding: 0 1;
    }
    ClassPrompt OptionList {
        border: none;
        height: auto;
        max-height: 16;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("up", "move(-1)", "Up", show=False),
    ]

    def __init__(self, run, title: str = "Grad-CAM of class…") -> None:
        super().__init__()
        self.run, self.title_text = run, title
        self.found: list[int] = []

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = self.title_text
        box.border_subtitle = "type the start of a name · Enter: draw it · Esc: close"
        with box:
            yield Input(placeholder="a class name", id="class-prompt-input", compact=True)  # one line: what is typed shows
            yield OptionList(id="class-prompt-options")

    def on_mount(self) -> None:
        self._refill("")
        self.query_one(Input).focus()

    def _refill(self, text: str) -> None:
        names = self.run.class_names
        self.found = (classes_matching(self.run, text.strip()) if text.strip() else list(range(len(names))))[:MAX_SHOWN]
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(Text(f"{c:>4}  {names[c]}")) for c in self.found])
        if self.found:
            options.highlighted = 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        k = self.query_one(OptionList).highlighted
        if k is not None and k < len(self.found):
            self.dismiss(self.found[k])

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.found[event.option_index])

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        options.action_cursor_down() if delta > 0 else options.action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
