"""Images: one list over any slice of the test set (tui.slices), the example under the cursor drawn beside
it, and the label review. Every slice is listed whole, sortable; j/k (or the arrows) move the cursor and the
panels follow it. x / c / a give the image under the cursor a verdict (label wrong, with the suggested label
shown; right; ambiguous) and move on; the verdicts are the session's ReviewBook, saved beside the cache after
each one. The cursor is the one source of the image on show: moving it posts a highlight and only the one
that matches the cursor when handled does any work, so a burst of keys costs one figure.
"""

from __future__ import annotations

from typing import Hashable

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import var

from engine.console import visible
from engine.figures.examples import target_role
from engine.figures.numbers import pct
from engine.figures.panels import class_example_panels, pair_example_panels, suspect_panels
from engine.store.reviews import AMBIGUOUS, RIGHT, WRONG
from tui.figures import Drawing, Figure, example_figure
from tui.messages import OpenClass, OpenSlice
from tui.model import can_draw, default_target, example_caption, next_target, step_any_target, why_not_target
from tui.review import MARKS, WORDS
from tui.screens.class_prompt import ClassPrompt
from tui.slices import CELL, CONFIDENT, DUPLICATES, ERRORS, FLAGS, SIMILAR, SORTS, SUSPECTS, Slice, SliceSpec, Sort, \
    check, slice_of, sorted_order, sorts_of
from tui.views.base import Runs, View
from tui.widgets.caption import Caption
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.virtual_table import Column, VirtualTable

SLOW = {SUSPECTS: "Finding label suspects…", FLAGS: "Measuring where every Grad-CAM looks…",
        CONFIDENT: "Calibrating…", DUPLICATES: "Comparing every pair of images…"}  # slices whose analysis takes a moment the first time: built in a thread
COLUMNS = [Column("image", 5, right=True), Column("true", 0), Column("predicted", 0), Column("conf", 6, right=True),
           Column("review", 10)]


class ImagesView(View):
    """Slice title and the example's caption on top; the slice's table and the example side by side."""

    KEY, TAB, TITLE = "8", "images", "Images"
    OPENS = (OpenSlice,)
    WRITES = "example"
    START = SliceSpec(ERRORS)  # the slice it shows before any other is opened
    KEYS = (("j/k", "move"), ("x c a", "label wrong/right/ambiguous"), ("s", "sort"), ("t", "target"),
            ("v", "panels"))
    HELP = [
        ("j k  ↓ ↑  pgup pgdn", "move through the slice; the panels follow the cursor"),
        ("Enter", "open the images like this one (same true → predicted), or its class from such a list"),
        ("g", "open this image's true class in the Class view"),
        ("s  r", "cycle the sort (slice order, confidence, p(true), image id, class, ...) · reverse it"),
        ("t", "Grad-CAM target: predicted → other top-k → true class"),
        ("T  m", "any class's Grad-CAM: the next class by id · type a class name (where the cache stores them)"),
        ("n", "the test images most similar to this one; / near-duplicates lists the look-alike pairs"),
        ("x  c  a", "review: label wrong (the suggested label) · label right · ambiguous; then the next image"),
        ("l  u", "review: another suggested label (the model's top-k) · clear the verdict"),
        ("v", "the next panels, where not all fit at their pixel size"),
    ]

    DEFAULT_CSS = """
    ImagesView > Caption {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ImagesView > #images-title {
        text-style: bold;
    }
    ImagesView > Horizontal {
        height: 1fr;
    }
    ImagesView #images-left {
        width: 1fr;
        min-width: 44;
        max-width: 64;
    }
    ImagesView #images-status {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ImagesView ExampleFigure {
        width: 2fr;
        padding: 0 0 0 1;
    }
    """

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort", show=False),
        Binding("r", "reverse_sort", "Reverse", show=False),
        Binding("t", "cycle_target", "CAM target", show=False),
        Binding("T", "any_target(1)", "Any class", show=False),
        Binding("m", "choose_target", "Class by name", show=False),
        Binding("n", "similar", "Similar images", show=False),
        Binding("g", "open_class", "Open class", show=False),
        Binding("x", "verdict('wrong')", "Label wrong", show=False),
        Binding("c", "verdict('right')", "Label right", show=False),
        Binding("a", "verdict('ambiguous')", "Ambiguous", show=False),
        Binding("u", "clear_verdict", "Clear verdict", show=False),
        Binding("l", "cycle_suggestion", "Suggested label", show=False),
        Binding("v", "more_panels", "More panels", show=False),
    ]

    title: var[Text] = var(Text)
    caption: var[Text] = var(Text)
    status: var[Text] = var(Text)
    drawing: var[Drawing | None] = var(None)

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(runs, **kwargs)
        self.book = runs.book
        self.slice: Slice | None = None
        self.spec: SliceSpec | None = None
        self.sorts: list[Sort] = list(SORTS)
        self.sort, self.reverse = 0, False
        self.order = np.zeros(0, dtype=np.int64)
        self.pos = -1  # position in self.slice of the image on show
        self.target = -1
        self.suggestion = -1
        self.built: dict[SliceSpec, Slice] = {}
        self.reviewed = (0, {})
        self.asked: tuple[SliceSpec, int | None] | None = None  # what to open once mounted / once built
        self.ready = False  # mounted: the table can be filled

    def compose(self) -> ComposeResult:
        yield Caption(id="images-title").data_bind(text=ImagesView.title)
        yield Caption(id="images-caption").data_bind(text=ImagesView.caption)
        with Horizontal():
            with Vertical(id="images-left"):
                yield VirtualTable(COLUMNS, id="images-table")
                yield Caption(id="images-status").data_bind(text=ImagesView.status)
            yield ExampleFigure().data_bind(ImagesView.drawing)

    def on_mount(self) -> None:
        self.ready = True
        spec, image = self.asked or (self.START, None)
        self.show_slice(spec, image)

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    @property
    def image(self) -> int | None:
        """The image under the cursor."""
        return int(self.slice.images[self.pos]) if self.slice is not None and self.pos >= 0 else None

    # --- slices ----------------------------------------------------------------------------------------

    def show_slice(self, spec: SliceSpec, image: int | None = None, sort: int = 0, reverse: bool = False) -> None:
        """List slice `spec`, the cursor on `image` if it is in it (else at the top)."""
        why = check(self.run, spec)
        if why:
            self.notify(why, severity="warning", markup=False)
            return
        self.asked = (spec, image)
        if not self.ready:  # on_mount shows it
            return
        self.sort, self.reverse = sort, reverse
        if spec in self.built:
            self._shown(self.built[spec], image)
        elif spec.kind in SLOW:
            self.status = Text(SLOW[spec.kind])
            self._build(spec)
        else:
            self._shown(self._made(spec), image)

    def _made(self, spec: SliceSpec) -> Slice:
        return self.built.setdefault(spec, slice_of(self.run, spec))

    @work(thread=True, exclusive=True, group="slice")
    def _build(self, spec: SliceSpec) -> None:
        try:
            s = self._made(spec)
        except Exception as exc:  # an analysis that fails must not take the browser down
            why = Text(visible(f"Could not build this slice: {type(exc).__name__}: {exc}"))
            self.app.call_from_thread(setattr, self, "status", why)
            return
        self.app.call_from_thread(self._built, s)

    def _built(self, s: Slice) -> None:
        if self.asked and self.asked[0] == s.spec:
            self._shown(s, self.asked[1])

    def _shown(self, s: Slice, image: int | None) -> None:
        self.slice, self.spec = s, s.spec
        table = self.table
        table.columns = COLUMNS[:4] + ([Column(s.extra[0], 8, right=True)] if s.extra else []) + COLUMNS[4:]
        self.sorts = sorts_of(s)
        self.sort = min(self.sort, len(self.sorts) - 1)
        self.title = Text(s.title)
        self.reviewed = self.book.progress(s.images)
        self._order(image)

    def _order(self, image: int | None) -> None:
        s = self.slice
        self.order = sorted_order(self.run, s, self.sorts[self.sort], self.reverse)
        row = 0
        if image is not None:
            hits = np.nonzero(s.images[self.order] == image)[0]
            row = int(hits[0]) if len(hits) else 0
        self.pos = -1
        self.table.set_rows(len(s), self._cells, row)
        if not len(s):
            self.caption, self.drawing = Text(s.empty), None
            self._status()

    # --- the table -------------------------------------------------------------------------------------

    def _cells(self, row: int) -> list[str | Text]:
        s, c, names = self.slice, self.run.cache, self.run.class_names
        k = int(self.order[row])
        i = int(s.images[k])
        v = self.book.get(i)
        review = Text()
        if v is not None:
            review = Text(MARKS[v.verdict] + (f" {names[v.suggested]}" if v.verdict == WRONG else ""),
                          style="bold red" if v.verdict == WRONG else "bold green" if v.verdict == RIGHT else "bold")
        cells: list[str | Text] = [str(i), names[int(c.labels[i])], names[int(c.preds[i])], pct(float(c.confidence[i]))]
        if s.extra:
            cells.append(f"{s.extra[1][k]:.2f}")
        return cells + [review]

    @on(VirtualTable.Highlighted)
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        event.stop()
        if event.stale or self.slice is None or not len(self.slice):
            return
        pos = int(self.order[event.row])
        if pos != self.pos:
            self.pos = pos
            i = self.image
            self.target = default_target(self.run, i)
            v = self.book.get(i)
            self.suggestion = v.suggested if v is not None and v.suggested is not None else int(self.slice.suggested[pos])
            self._example()
        self._status()

    @on(VirtualTable.Selected)
    def _selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        i = self.image
        if i is None:
            return
        c = self.run.cache
        cell = SliceSpec(CELL, int(c.labels[i]), int(c.preds[i]))
        if self.spec == cell:
            self.post_message(OpenClass(int(c.labels[i])))
        else:
            self.post_message(OpenSlice(cell, i))

    def _example(self) -> None:
        s, i, run = self.slice, self.image, self.run
        c, names = run.cache, run.class_names
        given = int(c.labels[i])
        text = Text(example_caption(run, i))
        if s.spec.kind == SUSPECTS:
            build, args = suspect_panels, (i, given, int(s.suggested[self.pos]))
        elif s.spec.kind == CELL and s.spec.a != s.spec.b:
            build, args = pair_example_panels, (i, s.spec.a, s.spec.b)
        else:
            build, args = class_example_panels, (i, self.target)
            text.append(f" · target: {names[self.target]} ({target_role(c, i, self.target)})", style="italic")
        v = self.book.get(i)
        if v is not None:
            text.append(f" · {WORDS[v.verdict]}" + (f" → {names[v.suggested]}" if v.verdict == WRONG else ""),
                        style="bold")
        else:
            text.append(f" · suggested label: {names[self.suggestion]}", style="dim")
        self.caption = text
        self.drawing = Drawing((build.__name__, *args), build, (c, *args))

    def _status(self) -> None:
        s = self.slice
        if s is None:
            return
        n = len(s)
        done, counts = self.reviewed
        arrow = "↓" if self.reverse else "↑"
        text = f"{self.table.cursor + 1 if n else 0} of {n:,} · {self.sorts[self.sort].name} {arrow} · " \
               f"{done:,} reviewed"
        if done:
            text += " (" + " ".join(f"{MARKS[k]}{counts[k]}" for k in (WRONG, RIGHT, AMBIGUOUS) if counts.get(k)) + ")"
        if self.book.problem:
            text += f" · {self.book.problem}"
        self.status = Text(text)

    # --- the protocol ----------------------------------------------------------------------------------

    def open(self, message: OpenSlice) -> None:
        self.show_slice(message.spec, message.image)

    def focus_primary(self) -> None:
        self.table.focus()

    def location(self) -> Hashable:
        return (self.spec, self.sort, self.reverse, self.image)

    def restore(self, location: Hashable) -> None:
        spec, sort, reverse, image = location
        if spec is not None:
            self.show_slice(spec, image, sort, reverse)

    def figure(self) -> Figure | None:
        i = self.image
        if i is None or self.drawing is None:
            return None
        build, args = self.drawing.build, self.drawing.args[1:]
        spec, target = self.spec, self.target

        def words(run) -> tuple[str, list[str], list[str]]:
            names = run.class_names
            lines = [slice_of(run, spec).title] if spec is not None else []
            parts = [names[int(run.cache.labels[i])]]
            if build is class_example_panels:
                parts += ["cam", names[target]]
            elif build is pair_example_panels:
                parts += ["to", names[args[2]]]
            else:
                parts += ["suggested", names[args[2]]]
            return example_caption(run, i), lines, parts

        return example_figure(f"example (image {i})", self.drawing.key, build, args, words)

    # --- keys ------------------------------------------------------------------------------------------

    def action_cycle_sort(self) -> None:
        if self.slice is not None:
            self.sort = (self.sort + 1) % len(self.sorts)
            self._order(self.image)

    def action_reverse_sort(self) -> None:
        if self.slice is not None:
            self.reverse = not self.reverse
            self._order(self.image)

    def action_cycle_target(self) -> None:
        i = self.image
        if i is not None and self.drawing is not None and self.drawing.build is class_example_panels:
            self.target = next_target(self.run, i, self.target)
            self._example()

    def _targets(self) -> bool:
        """Whether the panels on show have a Grad-CAM target to change (a class's example, not a pair's)."""
        return self.image is not None and self.drawing is not None and self.drawing.build is class_example_panels

    def action_any_target(self, delta: int) -> None:
        if not self._targets():
            return
        target = step_any_target(self.run, self.target, delta)
        if target is None:
            self.notify(why_not_target(self.run), severity="warning", markup=False)
            return
        self.target = target
        self._example()

    def action_choose_target(self) -> None:
        if self._targets():
            self.app.push_screen(ClassPrompt(self.run), self._chosen)

    def _chosen(self, cls: int | None) -> None:
        i = self.image
        if cls is None or i is None or not self._targets():
            return
        if not can_draw(self.run, i, cls):
            self.notify(why_not_target(self.run), severity="warning", markup=False)
            return
        self.target = cls
        self._example()

    def action_similar(self) -> None:
        i = self.image
        if i is not None:
            self.post_message(OpenSlice(SliceSpec(SIMILAR, i)))

    def action_open_class(self) -> None:
        i = self.image
        if i is not None:
            self.post_message(OpenClass(int(self.run.cache.labels[i])))

    def action_more_panels(self) -> None:
        self.query_one(ExampleFigure).next_page()

    def action_cycle_suggestion(self) -> None:
        """The next class the model ranks (top-k) that is not the given label."""
        i = self.image
        if i is None:
            return
        c = self.run.cache
        options = [int(k) for k in c.topk_classes[i] if int(k) != int(c.labels[i])]
        if int(self.slice.suggested[self.pos]) not in options:
            options.insert(0, int(self.slice.suggested[self.pos]))
        k = options.index(self.suggestion) if self.suggestion in options else -1
        self.suggestion = options[(k + 1) % len(options)]
        v = self.book.get(i)
        if v is not None and v.verdict == WRONG:  # changing the suggestion of a verdict given: keep it
            self.book.mark(i, WRONG, self.suggestion)
            self._reviewed(advance=False)
        else:
            self._example()

    def action_verdict(self, verdict: str) -> None:
        i = self.image
        if i is not None:
            self.book.mark(i, verdict, self.suggestion)
            self._reviewed(advance=True)

    def action_clear_verdict(self) -> None:
        i = self.image
        if i is not None and self.book.clear(i):
            self._reviewed(advance=False)

    def _reviewed(self, advance: bool) -> None:
        self.reviewed = self.book.progress(self.slice.images)
        self.table.redraw()
        self._example()
        self._status()
        self._save()
        if advance and self.table.cursor + 1 < self.table.count:
            self.table.action_move(1)

    @work(thread=True, group="reviews-save", exit_on_error=False)
    def _save(self) -> None:
        try:
            self.book.save()
        except OSError as exc:  # WriteFailed: disk full, read-only: say so, keep the verdicts in memory
            self.book.problem = visible(f"not saved: {exc}")
            self.app.call_from_thread(self.notify, self.book.problem, severity="error", markup=False)
        self.app.call_from_thread(self._status)
