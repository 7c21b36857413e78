"""`/` from anywhere: type what to open and pick it. A class by name (its page, all its images, or every
image predicted as it), a pair as `seal > otter`, an image by id (`#1234` or `1234`), a superclass's block of
the confusion matrix, or a named slice (all errors, high-confidence errors, label suspects, attention flags,
near-duplicates).

What the words match is worked out here from the run alone (candidates()); the screen returns the chosen
message and the app opens it as any view's message.
"""

from __future__ import annotations

import re

from textual.message import Message

from engine.analysis.analysed_run import AnalysedRun
from tui.messages import OpenClass, OpenConfusion, OpenSlice
from tui.screens.picker import PickerScreen
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


class FinderScreen(PickerScreen):
    """The field over everything the app can open; returns the message that opens the highlighted match."""

    TITLE_TEXT, SUBTITLE = "Open…", "class name · seal > otter · #1234 · errors · suspects · Esc: close"
    PLACEHOLDER, ID_PREFIX = "a class, a pair (a > b), an image (#id), a slice…", "finder"

    def __init__(self, run: AnalysedRun) -> None:
        super().__init__()
        self.run = run

    def choices(self, text: str) -> list[tuple[str, Message | None]]:
        return candidates(self.run, text)
