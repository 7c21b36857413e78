"""The bottom line: the view on screen and its keys on the left, the keys that work everywhere on the right.

Textual's Footer lists every binding in the focus chain and, below ~130 columns, cuts off the app's own
keys (`w`, `?`, `q`), the ones a new user needs most. Here the app's keys are drawn first and always whole;
the view's keys get what is left of the line and lose their tail (with an ellipsis) on a narrow terminal.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

APP_KEYS = (("/", "find"), ("esc", "back"), ("w", "write"), ("?", "keys"), ("q", "quit"))


def key_text(keys: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> Text:
    text = Text(no_wrap=True, end="")
    for k, (key, what) in enumerate(keys):
        if k:
            text.append("  ")
        text.append(key, style="bold reverse")
        text.append(f" {what}")
    return text


class KeyBar(Widget):
    """`keys`: (key, what) of the view on screen."""

    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        dock: bottom;
        background: $panel;
        color: $text;
    }
    """

    keys: reactive[tuple[tuple[str, str], ...]] = reactive((), layout=False)
    where: reactive[str] = reactive("", layout=False)  # the view on screen ("3 Class"): the tabs hide on short screens

    def render(self) -> Text:
        width = self.size.width
        right = key_text(APP_KEYS)
        room = width - right.cell_len - 3
        left = Text(f"{self.where} ", style="bold", end="") if self.where else Text(end="")
        left.append_text(key_text(self.keys))
        if room < 8:  # a tiny terminal: the app's keys alone, cut if they must be
            right.truncate(max(width - 1, 0), overflow="ellipsis")
            return Text(" ") + right
        left.truncate(room, overflow="ellipsis")
        line = Text(" ") + left
        line.append(" " * max(width - 1 - line.cell_len - right.cell_len, 1))
        line.append_text(right)
        return line
