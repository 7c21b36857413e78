"""A one-line index of a class's examples (W1..W5 worst, B1..B3 best) with the current one highlighted.

It tells at a glance how many of the worst are misclassified (✗) or low-confidence correct (~), and where
j/k will go next, without spending screen rows on a list.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.analysis.selections import LOW_CONFIDENCE_CORRECT, MISCLASSIFIED
from engine.figures.examples import Example

MARK = {MISCLASSIFIED: "✗", LOW_CONFIDENCE_CORRECT: "~"}


class ExampleStrip(Static):
    """Renders `examples` with `current` in reverse video."""

    DEFAULT_CSS = """
    ExampleStrip {
        height: 1;
        width: 1fr;
    }
    """

    examples: reactive[list[Example]] = reactive(list, always_update=True)
    current: reactive[int] = reactive(0)

    def render(self) -> Text:
        text = Text()
        if not self.examples:
            return Text("No images of this class in the cache.", style="italic")
        group = None
        for k, ex in enumerate(self.examples):
            if ex.group != group:
                text.append(("Worst " if ex.group == "worst" else "  Best "), style="bold")
                group = ex.group
            label = f"{ex.group[0].upper()}{ex.position}{MARK.get(ex.kind, '✓')}"
            text.append(f" {label} ", style="reverse bold" if k == self.current else "")
        return text
