"""What the TUI tests read off the screen, and the runs they compare (no fixtures: conftest.py has those)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.store import RunCache
from tui.widgets.half_block_image import HalfBlockImage
from tui.widgets.image_panel import ImagePanel

ROOT = Path(__file__).resolve().parents[2]
SIZE = (160, 48)  # wide enough for four 32x32 panels at their pixel size
VIEW_KEYS = "123456789"  # overview, classes, class, pairs, recommendations, suspects, confusion, images, compare


def text_of(widget) -> str:
    """The plain text a Static/Label shows."""
    return str(widget.render())


def shown_panels(app) -> list[tuple[str, str, HalfBlockImage]]:
    """(title, caption, image widget) of the visible panels of the active view; the widget's .panel is
    the engine's Panel."""
    view = app.query_one(f"#{app.active_view}-view")
    return [(text_of(s.query_one(".title")), text_of(s.query_one(".subtitle")), s.query_one(HalfBlockImage))
            for s in view.query(ImagePanel) if s.display]


def table_rows(table) -> list[list[str]]:
    """The cells of every row of a VirtualTable, as text."""
    return [[str(c) for c in table.cells(k)] for k in range(table.count)]


def screen_text(widget: HalfBlockImage) -> str:
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


async def settle(app, pilot) -> None:
    """Wait for the thread workers (figures, suspects, comparison, recommendations), then the repaint; again
    while what they handed back started more (a figure builder that found a newer drawing builds that one)."""
    for _ in range(10):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if all(w.is_finished for w in app.workers):
            return


async def tour(app, pilot, keys: str = VIEW_KEYS) -> None:
    """Every view, and in those that draw images the keys that draw another one."""
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)
        if key == "3":
            await pilot.press("j", "t", "t", "k", "right_square_bracket", "g", "escape")
        elif key == "4":
            await pilot.press("j", "down", "j", "up")
        elif key in "68":
            await pilot.press("down", "j", "s", "t", "v")
        elif key == "7":
            await pilot.press("right", "down", "J", "z", "left", "escape")
        elif key == "2":
            await pilot.press("s", "r", "f", "c", "escape")
        await settle(app, pilot)
    await pilot.press("question_mark")
    await pilot.pause()
    await pilot.press("escape")
    await settle(app, pilot)


def least_accurate(run: AnalysedRun) -> int:
    """The class with the lowest accuracy (ties: lower id), computed here with pandas as a second opinion."""
    pc = run.metrics.per_class.frame
    return int(pc.sort_values(["accuracy", "class_id"], kind="mergesort").iloc[0]["class_id"])


def better_cache(cache: RunCache) -> RunCache:
    """A later run: class 1's confusion with class 0 mostly cured (tests.synthetic.cured_copy), and a
    regression elsewhere so the table has both signs: class 2's first two correct images go to class 3."""
    from tests.synthetic import cured_copy, with_logits

    cured, _ = cured_copy(cache)
    logits = cured.logits.copy()
    hurt = np.nonzero((cache.labels == 2) & (cache.preds == 2))[0][:2]
    logits[hurt, 3] += 20
    return with_logits(cache, logits)


def opened_by_the_tui(argv, monkeypatch) -> dict:
    """What `gradcam-tui ARGV` hands the app (the app itself replaced by a recorder), and the exit code."""
    import pytest

    import tui.app
    from tui.__main__ import main
    from tui.review import ReviewBook

    opened: dict = {}

    class Opened:
        terminated, return_code = False, 0

        def __init__(self, run, **kwargs):
            opened.update(run=run, **kwargs)
            self.reviews = ReviewBook(run.cache.labels, run.cache.num_classes)

        def run(self):
            opened["ran"] = True

    monkeypatch.setattr(tui.app, "GradCamApp", Opened)
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    opened["code"] = exited.value.code
    return opened
