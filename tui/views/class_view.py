"""Class: the notebook's per-class page — header lines, then the worst and best examples drawn inline.

One example is drawn at a time, as large as the terminal allows (a row of four 32x32 panels is already
wider than 80 columns at one pixel per cell); j/k step through them. Building one example's panels costs a
few milliseconds, so it happens synchronously on each key press and a class switch redraws within a frame.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from engine.cache import RunCache
from tui.figures import class_example_panels, safely
from tui.messages import OpenClass, OpenPair
from tui.model import (
    Example,
    class_examples,
    class_header,
    confused_with,
    default_target,
    example_caption,
    next_target,
    target_role,
)
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.jet_legend import JetLegend
from tui.widgets.example_strip import ExampleStrip


class ClassView(Vertical, can_focus=True):
    """Header, example index, caption of the current example, and its figure."""

    DEFAULT_CSS = """
    ClassView #class-header {
        height: 4;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ClassView ExampleStrip, ClassView #example-caption {
        padding: 0 1;
    }
    ClassView #example-caption {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ClassView ExampleFigure {
        padding: 0 0 0 1;
    }
    """

    BINDINGS = [
        Binding("j,right", "step(1)", "Next example"),
        Binding("k,left", "step(-1)", "Prev example"),
        Binding("t", "cycle_target", "CAM target"),
        Binding("g", "goto_confused", "Go to confused class"),
        Binding("p", "open_pair", "Open pair", show=False),
        Binding("right_square_bracket", "next_class(1)", "Next class"),
        Binding("left_square_bracket", "next_class(-1)", "Prev class", show=False),
        Binding("backspace", "back", "Back", show=False),
    ]

    def __init__(self, cache: RunCache, class_id: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self.class_id = class_id
        self.examples: list[Example] = []
        self.current = 0
        self.target = -1
        self.history: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static(id="class-header")
        yield ExampleStrip()
        yield Static(id="example-caption")
        yield JetLegend()
        yield ExampleFigure()

    def on_mount(self) -> None:
        self.show_class(self.class_id, remember=False)

    def focus_primary(self) -> None:
        self.focus()

    @property
    def example(self) -> Example | None:
        return self.examples[self.current] if self.examples else None

    def show_class(self, class_id: int, remember: bool = True) -> None:
        """Switch to a class and draw its first example."""
        if remember and class_id != self.class_id:
            self.history.append(self.class_id)
        self.class_id = class_id
        self.examples = class_examples(self.cache, class_id)
        lines = class_header(self.cache, class_id)
        header = Text(lines[0] + "\n", style="bold")
        header.append("\n".join(lines[1:]))
        self.query_one("#class-header", Static).update(header, layout=False)
        self.show_example(0)

    def show_example(self, k: int, target: int | None = None) -> None:
        """Draw example k of the current class with Grad-CAM for `target` (default: the prediction)."""
        strip = self.query_one(ExampleStrip)
        strip.examples = self.examples
        figure = self.query_one(ExampleFigure)
        caption = self.query_one("#example-caption", Static)
        if not self.examples:
            self.current, self.target = 0, -1
            caption.update("", layout=False)
            figure.show([])
            return
        self.current = k % len(self.examples)
        strip.current = self.current
        ex = self.examples[self.current]
        self.target = default_target(self.cache, ex.index) if target is None else target
        role = target_role(self.cache, ex.index, self.target)
        text = Text(f"{ex.group.title()} {ex.position} · {ex.kind_name} · ", style="bold")
        text.append(example_caption(self.cache, ex.index))
        text.append(f" · target: {self.cache.class_names[self.target]} ({role})", style="italic")
        caption.update(text, layout=False)
        figure.show(safely(class_example_panels, self.cache, ex.index, self.target))

    def action_step(self, delta: int) -> None:
        if self.examples:
            self.show_example(self.current + delta)

    def action_cycle_target(self) -> None:
        ex = self.example
        if ex is not None:
            self.show_example(self.current, next_target(self.cache, ex.index, self.target))

    def action_goto_confused(self) -> None:
        ex = self.example
        if ex is None:
            return
        other = confused_with(self.cache, ex.index, self.target)
        if other != self.class_id:
            self.post_message(OpenClass(other))

    def action_open_pair(self) -> None:
        """Show this mistake's (true -> predicted) pair in the Pairs view, if it is one of the top pairs."""
        ex = self.example
        if ex is None or not ex.misclassified:
            self.notify("This example is classified correctly: it belongs to no confused pair.", severity="warning")
            return
        pairs = self.cache.analysis.confused_pairs
        i = ex.index
        hit = pairs[(pairs["true_id"] == int(self.cache.labels[i])) & (pairs["pred_id"] == int(self.cache.preds[i]))]
        if hit.empty:
            self.notify(f"This confusion is not among the top {len(pairs)} pairs.", severity="warning")
            return
        self.post_message(OpenPair(int(hit["rank"].iloc[0])))

    def action_next_class(self, delta: int) -> None:
        self.show_class((self.class_id + delta) % self.cache.num_classes)

    def action_back(self) -> None:
        if self.history:
            self.show_class(self.history.pop(), remember=False)
