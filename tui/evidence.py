"""What each recommendation's evidence names, as places the app can open: its classes, its pairs, its
images (engine.analysis.recommendations: Finding.classes and facts hold the ids), so the Recommendations
view is a way in, not a dead end. No widgets here: the links are the messages the view posts."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine.analysis.analysed_run import AnalysedRun
from tui.messages import OpenClass, OpenConfusion, OpenSlice
from tui.slices import CELL, CONFIDENT, ERRORS, FLAGS, SUSPECTS, SliceSpec

LINKS_PER_FINDING = 8


@dataclass(frozen=True)
class Link:
    number: int  # the recommendation's number (1-based, as the text numbers them)
    label: str
    message: Message


def _slices(run: AnalysedRun, key: str, facts: dict) -> list[tuple[str, Message]]:
    names = run.class_names
    out: list[tuple[str, Message]] = []
    if key in ("strong_pairs", "mutual_pairs"):
        for row in facts.get("pairs", []):
            t, p = int(row[0]), int(row[1])
            out.append((f"images of {names[t]} → {names[p]}", OpenSlice(SliceSpec(CELL, t, p))))
            if key == "mutual_pairs":
                out.append((f"images of {names[p]} → {names[t]}", OpenSlice(SliceSpec(CELL, p, t))))
    elif key == "label_noise":
        out.append(("the label suspects (review them)", OpenSlice(SliceSpec(SUSPECTS))))
        for row in facts.get("top", []):
            out.append((f"suspect image #{int(row[0])}", OpenSlice(SliceSpec(SUSPECTS), int(row[0]))))
    elif key == "overconfidence":
        out.append(("the high-confidence errors", OpenSlice(SliceSpec(CONFIDENT))))
    elif key == "background":
        out.append(("the attention flags", OpenSlice(SliceSpec(FLAGS))))
    elif key == "near_misses":
        out.append(("all errors", OpenSlice(SliceSpec(ERRORS))))
    elif key == "within_superclass" and run.cache.has_superclasses:
        c2s = run.cache.class_to_superclass
        for s, _, _ in facts.get("top", []):
            members = [int(c) for c in range(run.cache.num_classes) if int(c2s[c]) == int(s)]
            if members:
                out.append((f"superclass {run.cache.superclass_names[int(s)]} in the confusion matrix",
                            OpenConfusion(members[0], members[0], zoom=True)))
    return out


def evidence_links(run: AnalysedRun) -> list[Link]:
    """Per recommendation (in the text's order), the places its evidence names: slices, then classes."""
    from engine.reports.recommendations import recommendations

    links: list[Link] = []
    for k, rec in enumerate(recommendations(run), 1):
        f = rec.finding
        found = _slices(run, f.key, f.facts)
        found += [(f"class {run.class_names[c]}", OpenClass(int(c))) for c in f.classes]
        links += [Link(k, label, message) for label, message in found[:LINKS_PER_FINDING]]
    return links
