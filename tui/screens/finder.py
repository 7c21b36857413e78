"""`/` from anywhere: type what to open and pick it. A class by name (its page, all its images, or every
image predicted as it), a pair as `seal > otter`, an image by id (`#1234` or `1234`), a superclass's block of
the confusion matrix, or a named slice (all errors, high-confidence errors, label suspects, attention flags,
near-duplicates).

What the words match is worked out here from the run alone (candidates()); the screen returns the chosen
message and the app opens it as any view's message.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from engine.analysis.analysed_run import AnalysedRun
from tui.messages import OpenClass, OpenConfusion, OpenSlice
from tui.slices import CELL, CLASS, IMAGE, PREDICTED, SliceSpec, check, named_slices

MAX_SHOWN = 40
PAIR = re.compile(r"\s*(.+?)\s*(?:>|→|->)\s*(.+?)\s*$")


def classes_matching(run: AnalysedRun, words: str) -> list[int]:
    """Class ids whose name contains `words` (case-insensitive): exact matches, then prefixes, then the rest."""
    w = words.lower()
    names = [n.lower() for n in run.class_names]
    hits = [c for c, n in enumerate(names) if w in n]
    return sorted(hits, key=lambda c: (names[c] != w, not names[c].startswith(w), c))


def candidates(run: AnalysedRun, text: str) -> list[tuple[str, Message]]:
    """(what it opens, the message that opens it) for the typed `text`, best first."""
    names, n = run.class_names, run.cache.num_images
    t = text.strip()
    out: list[tuple[str, Message]] = []
    digits = t.lstrip("#")
    if digits.isdigit():
        i = int(digits)
        if 0 <= i < n:
            c = run.cache
            out.append((f"image #{i} · true {names[int(c.labels[i])]} · predicted {names[int(c.preds[i])]}",
                        OpenSlice(SliceSpec(IMAGE, i))))
        else:
            out.append((f"no image #{i}: this test set has images 0 to {n - 1}", None))
    pair = PAIR.match(t)
    if pair:
        left, right = classes_matching(run, pair.group(1)), classes_matching(run, pair.group(2))
        m = run.metrics.confusion
        for a in left[:3]:
            for b in right[:3]:
                out.append((f"images of {names[a]} predicted as {names[b]} ({int(m[a, b])})",
                            OpenSlice(SliceSpec(CELL, a, b))))
    low = t.lower()
    for label, spec in named_slices(run):
        if (not t or low in label) and check(run, spec) is None:
            out.append((label, OpenSlice(spec)))
    if not t or low in "confusion matrix":
        out.append(("the confusion matrix", OpenConfusion()))
    if t and not pair and not digits.isdigit():
        for c in classes_matching(run, t)[:MAX_SHOWN // 3]:
            out.append((f"class {names[c]} (its page)", OpenClass(c)))
            out.append((f"every image of {names[c]}", OpenSlice(SliceSpec(CLASS, c))))
            out.append((f"every image predicted as {names[c]}", OpenSlice(SliceSpec(PREDICTED, c))))
        sc = run.cache.superclass_names or []
        if run.cache.has_superclasses:
            c2s = run.cache.class_to_superclass
            for s, name in enumerate(sc):
                if low in name.lower():
                    members = [int(k) for k in range(run.cache.num_classes) if int(c2s[k]) == s]
                    if members:
                        out.append((f"superclass {name} in the confusion matrix",
                                    OpenConfusion(members[0], members[0], zoom=True)))
    return out[:MAX_SHOWN]


class FinderScreen(ModalScreen[Message | None]):
    """An input and what it matches; Enter opens the highlighted match, Esc closes."""

    DEFAULT_CSS = """
    FinderScreen {
        align: center top;
    }
    FinderScreen > Vertical {
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 80%;
        margin-top: 2;
        border: round $accent;
        background: $surface;
    }
    FinderScreen Input {
        padding: 0 1;
    }
    FinderScreen OptionList {
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

    def __init__(self, run: AnalysedRun) -> None:
        super().__init__()
        self.run = run
        self.found: list[tuple[str, Message | None]] = []

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = "Open…"
        box.border_subtitle = "class name · seal > otter · #1234 · errors · suspects · Esc: close"
        with box:
            yield Input(placeholder="a class, a pair (a > b), an image (#id), a slice…", id="finder-input",
                        compact=True)  # one line, no border: a bordered Input needs 3 and would hide the text
            yield OptionList(id="finder-options")

    def on_mount(self) -> None:
        self._refill("")
        self.query_one(Input).focus()

    def _refill(self, text: str) -> None:
        self.found = candidates(self.run, text)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(Text(label), disabled=message is None) for label, message in self.found])
        if self.found:
            options.highlighted = 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        options = self.query_one(OptionList)
        k = options.highlighted
        if k is not None and k < len(self.found) and self.found[k][1] is not None:
            self.dismiss(self.found[k][1])

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        message = self.found[event.option_index][1]
        if message is not None:
            self.dismiss(message)

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        options.action_cursor_down() if delta > 0 else options.action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
