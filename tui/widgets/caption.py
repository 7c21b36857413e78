"""A line (or a few) of plain text that a view binds to its state: `Caption().data_bind(text=View.caption)`.

Views keep what they say in reactives and bind them here, rather than pushing updates into children, so a
caption can never disagree with the state it describes. Never markup: captions hold class names and paths,
and a class named '[/]' is a name.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class Caption(Static):
    """Shows `text`. A caption of fixed height repaints without a reflow (a key press costs one repaint);
    one made with reflow=True, whose height follows its text, reflows."""

    DEFAULT_CSS = """
    Caption {
        height: auto;
    }
    """

    text: reactive[Text | str] = reactive(Text, init=False)

    def __init__(self, text: Text | str = "", *, reflow: bool = False, **kwargs) -> None:
        super().__init__(text, markup=False, **kwargs)
        self.reflow = reflow

    def watch_text(self, text: Text | str) -> None:
        self.update(text, layout=self.reflow)
