"""Class: the notebook's per-class page — header lines, then the worst and best examples drawn inline.

One example is drawn at a time, as large as the terminal allows (a row of four 32x32 panels is already
wider than 80 columns at one pixel per cell); j/k step through them. Where the view is (class, example,
Grad-CAM target) is one reactive, `place`, so a key press changes it in one step; everything shown is
derived from it into reactives bound to the children (header, example strip, caption, figure).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var

from engine.figures.examples import Example, class_examples, target_role
from engine.figures.panels import class_example_panels
from tui.figures import Drawing, Figure, class_page, example_figure
from tui.messages import OpenClass, OpenPair, OpenSlice, WriteFigure
from tui.screens.class_prompt import ClassPrompt
from tui.slices import CLASS, PREDICTED, SIMILAR, SliceSpec
from tui.model import (
    class_header,
    confused_with,
    default_target,
    example_caption,
    least_accurate,
    can_draw,
    next_target,
    pair_rank,
    step_any_target,
    why_not_target,
)
from tui.views.base import Runs, View
from tui.widgets.caption import Caption
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.example_strip import ExampleStrip
from tui.widgets.jet_legend import JetLegend


@dataclass(frozen=True)
class Place:
    """Where the Class view is: a class, its k-th example, and the class whose Grad-CAM is drawn (-1: no
    example to draw)."""

    class_id: int
    k: int = 0
    target: int = -1


class ClassView(View, can_focus=True):
    """Header, example index, caption of the current example, and its figure."""

    KEY, TAB, TITLE = "3", "class", "Class"
    OPENS = (OpenClass,)
    WRITES = "example"
    KEYS = (("j/k", "example"), ("t", "target"), ("g", "confused class"), ("] [", "class"), ("i", "all images"),
            ("v", "panels"))
    HELP = [
        ("j k  → ←", "next · previous example (the worst 5, then the best 3)"),
        ("t", "Grad-CAM target: predicted → other top-k → true class"),
        ("T  m", "any class's Grad-CAM: the next class by id · type a class name (where the cache stores them)"),
        ("n", "the test images most similar to this one (Images view)"),
        ("g", "go to the class this example was confused with"),
        ("p", "open this mistake's confused pair"),
        ("i  I", "list every image of the class · every image predicted as it (Images view)"),
        ("] [", "next · previous class"),
        ("W", "write the class's page (worst and best examples) as a PNG"),
        ("v", "the next panels, where not all fit at their pixel size"),
    ]

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
        Binding("T", "any_target(1)", "Any class", show=False),
        Binding("m", "choose_target", "Class by name", show=False),
        Binding("n", "similar", "Similar images", show=False),
        Binding("g", "goto_confused", "Go to confused class"),
        Binding("p", "open_pair", "Open pair", show=False),
        Binding("right_square_bracket", "next_class(1)", "Next class"),
        Binding("left_square_bracket", "next_class(-1)", "Prev class", show=False),
        Binding("i", "all_images", "All images", show=False),
        Binding("I", "predicted_as", "Predicted as", show=False),
        Binding("W", "write_page", "Write page", show=False),
        Binding("v", "more_panels", "More panels", show=False),
    ]

    place: var[Place | None] = var(None, init=False)
    examples: var[list[Example]] = var(list)
    current: var[int] = var(0)
    header: var[Text] = var(Text)
    caption: var[Text] = var(Text)
    drawing: var[Drawing | None] = var(None)

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(runs, **kwargs)
        self.seen = False  # whether the tab has been shown: a class nobody saw is not worth going back to
        self.go_to(least_accurate(self.run), remember=False)

    def compose(self) -> ComposeResult:
        yield Caption(id="class-header").data_bind(text=ClassView.header)
        yield ExampleStrip().data_bind(ClassView.examples, ClassView.current)
        yield Caption(id="example-caption").data_bind(text=ClassView.caption)
        yield JetLegend(layer=self.run.cache.meta.get("target_layer"))
        yield ExampleFigure().data_bind(ClassView.drawing)

    # --- state ---------------------------------------------------------------------------------------

    @property
    def class_id(self) -> int:
        return self.place.class_id if self.place else -1

    @property
    def target(self) -> int:
        return self.place.target if self.place else -1

    @property
    def example(self) -> Example | None:
        return self.examples[self.current] if self.examples else None

    def go_to(self, class_id: int, remember: bool = False) -> None:
        """Show class `class_id` from its first example; `remember`: Esc comes back to where it was."""
        if remember and self.seen and class_id != self.class_id:
            self.remember()
        examples = class_examples(self.run.selections, class_id)
        target = default_target(self.run, examples[0].index) if examples else -1
        self.place = Place(class_id, 0, target)

    def watch_place(self, old: Place | None, place: Place) -> None:
        run = self.run
        if old is None or place.class_id != old.class_id:
            self.examples = class_examples(run.selections, place.class_id)
            lines = class_header(run, place.class_id)
            self.header = Text(lines[0] + "\n", style="bold") + Text("\n".join(lines[1:]))
        self.current = place.k
        ex = self.example
        if ex is None:
            self.caption, self.drawing = Text(), None
            return
        role = target_role(run.cache, ex.index, place.target)
        text = Text(f"{ex.group.title()} {ex.position} · {ex.kind_name} · ", style="bold")
        text.append(example_caption(run, ex.index))
        text.append(f" · target: {run.class_names[place.target]} ({role})", style="italic")
        self.caption = text
        self.drawing = Drawing(("class", ex.index, place.target), class_example_panels,
                               (run.cache, ex.index, place.target))

    # --- the protocol --------------------------------------------------------------------------------

    def activate(self) -> None:
        self.seen = True

    def open(self, message: OpenClass) -> None:
        self.go_to(message.class_id)

    def location(self) -> Place | None:
        return self.place

    def restore(self, location: Place | None) -> None:
        if isinstance(location, Place):
            self.place = location

    def figure(self) -> Figure | None:
        ex, place = self.example, self.place
        if ex is None:
            return None
        i, target, c = ex.index, place.target, place.class_id
        title = f"{ex.group.title()} {ex.position} · {ex.kind_name}"

        def words(run) -> tuple[str, list[str], list[str]]:
            names = run.class_names
            role = target_role(run.cache, i, target)
            return (example_caption(run, i), [f"Class {c}: {names[c]} · {title} · Grad-CAM target {names[target]} "
                                             f"({role})"], [names[c], "cam", names[target]])

        return example_figure(f"example (image {i})", ("class", i, target), class_example_panels, (i, target), words)

    # --- keys ----------------------------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        if self.examples:
            k = (self.current + delta) % len(self.examples)
            self.place = replace(self.place, k=k, target=default_target(self.run, self.examples[k].index))

    def action_cycle_target(self) -> None:
        ex = self.example
        if ex is not None:
            self.place = replace(self.place, target=next_target(self.run, ex.index, self.target))

    def action_any_target(self, delta: int) -> None:
        ex = self.example
        if ex is None:
            return
        target = step_any_target(self.run, self.target, delta)
        if target is None:
            self.notify(why_not_target(self.run), severity="warning", markup=False)
            return
        self.place = replace(self.place, target=target)

    def action_choose_target(self) -> None:
        if self.example is not None:
            self.app.push_screen(ClassPrompt(self.run), self._chosen)

    def _chosen(self, cls: int | None) -> None:
        ex = self.example
        if cls is None or ex is None:
            return
        if not can_draw(self.run, ex.index, cls):
            self.notify(why_not_target(self.run), severity="warning", markup=False)
            return
        self.place = replace(self.place, target=cls)

    def action_similar(self) -> None:
        ex = self.example
        if ex is not None:
            self.post_message(OpenSlice(SliceSpec(SIMILAR, ex.index)))

    def action_goto_confused(self) -> None:
        ex = self.example
        if ex is None:
            return
        other = confused_with(self.run, ex.index, self.target)
        if other != self.class_id:
            self.post_message(OpenClass(other))

    def action_open_pair(self) -> None:
        """Show this mistake's (true -> predicted) pair in the Pairs view."""
        ex = self.example
        if ex is None or not ex.misclassified:
            self.notify("This example is classified correctly: it belongs to no confused pair.", severity="warning")
            return
        cache = self.run.cache
        rank = pair_rank(self.run, int(cache.labels[ex.index]), int(cache.preds[ex.index]))
        if rank is None:  # cannot be: a misclassified image makes its pair
            return
        self.post_message(OpenPair(rank))

    def action_next_class(self, delta: int) -> None:
        self.go_to((self.class_id + delta) % self.run.cache.num_classes, remember=True)

    def action_all_images(self) -> None:
        self.post_message(OpenSlice(SliceSpec(CLASS, self.class_id), self.example.index if self.example else None))

    def action_predicted_as(self) -> None:
        self.post_message(OpenSlice(SliceSpec(PREDICTED, self.class_id)))

    def action_write_page(self) -> None:
        self.post_message(WriteFigure(class_page(self.class_id)))

    def action_more_panels(self) -> None:
        self.query_one(ExampleFigure).next_page()
