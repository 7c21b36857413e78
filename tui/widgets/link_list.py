"""Lines that each open something: a cursor (↑ ↓), Enter posts the line's message. The Overview's tables
and the recommendations' evidence are drawn with it, so every row that names a class, a pair or a slice
is a way there. One Text, repainted on a move: as cheap as the Static it replaces on the first screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class LinkList(Widget, can_focus=True):
    """A header line (optional), then `lines`, line k opening `messages[k]` (None: a line that opens nothing)."""

    DEFAULT_CSS = """
    LinkList {
        height: auto;
        width: 1fr;
    }
    LinkList > .link-list--cursor {
        background: $block-cursor-blurred-background;
    }
    LinkList:focus > .link-list--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    """
    COMPONENT_CLASSES = {"link-list--cursor"}

    BINDINGS = [
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("enter", "open", "Open", show=False),
    ]

    cursor: reactive[int] = reactive(0)

    @dataclass
    class Opened(Message):
        links: "LinkList"
        message: Message

    def __init__(self, lines: list[Text], messages: list[Message | None], header: Text | None = None,
                 cursor: int = 0, **kwargs) -> None:
        """`cursor` -1: no line chosen yet (the first ↓ chooses the first line and brings it into view)."""
        super().__init__(**kwargs)
        self.lines, self.messages, self.header = lines, messages, header
        self.set_reactive(LinkList.cursor, cursor)

    def render(self) -> Text:
        parts = [] if self.header is None else [self.header]
        style = self.get_component_rich_style("link-list--cursor") if self.has_focus else None
        for k, line in enumerate(self.lines):
            if k == self.cursor and self.has_focus:
                line = line.copy()
                line.stylize(style)
                line.pad_right(max(self.size.width - line.cell_len, 0))
            parts.append(line)
        text = Text("\n").join(parts) if parts else Text("")
        text.no_wrap, text.overflow = True, "ellipsis"  # one screen line per row: the cursor is the row
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self.lines:
            k = self.cursor + delta
            if not 0 <= k < len(self.lines):  # past either end: on to the next list (or back)
                self.screen.focus_next() if delta > 0 else self.screen.focus_previous()
                return
            self.cursor = k
            self.scroll_visible()

    def action_open(self) -> None:
        if 0 <= self.cursor < len(self.lines) and self.messages[self.cursor] is not None:
            self.post_message(self.Opened(self, self.messages[self.cursor]))

    def on_click(self, event: events.Click) -> None:
        k = event.y - (0 if self.header is None else 1)
        if 0 <= k < len(self.lines):
            self.cursor = k
            self.action_open()
