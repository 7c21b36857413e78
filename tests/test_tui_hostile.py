"""Hostile conditions for gradcam-tui (issue #7): a terminal resized while the app runs, 40x12, NO_COLOR,
a cache without pictures for some images, class names that look like markup, a class with no test images.
The app must degrade with a message and never crash: Textual's run_test re-raises any exception a handler
or worker raised, so each test failing to finish cleanly is the crash it guards against.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.synthetic import synthetic_cache
from tests.tui_fakes import better_cache, fake_recommendations
from tui.app import GradCamApp
from tui.figures import NO_IMAGE
from tui.halfblock import UPPER_HALF
from tui.views.class_view import ClassView
from tui.views.pairs import PairsView
from tui.views.suspects import SuspectsView
from tui.widgets.example_strip import ExampleStrip
from tui.widgets.half_block_image import HalfBlockImage
from tui.widgets.image_panel import ImagePanel

ROOT = Path(__file__).resolve().parents[1]
VIEW_KEYS = "1234567"  # overview, classes, class, pairs, recommendations, suspects, compare


def run(coro) -> None:
    asyncio.run(coro)


def shown_panels(app) -> list[tuple[str, str, HalfBlockImage]]:
    """(title, subtitle, image widget) of the visible panels of the active view."""
    view = app.query_one(f"#{app.active_view}-view")
    return [(str(s.query_one(".title").render()), str(s.query_one(".subtitle").render()), s.query_one(HalfBlockImage))
            for s in view.query(ImagePanel) if s.display]


def screen_text(widget: HalfBlockImage) -> str:
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def tour(app, pilot, keys: str = VIEW_KEYS) -> None:
    """Every view, and in those that draw images the keys that draw another one."""
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)
        if key == "3":
            await pilot.press("j", "t", "t", "k", "right_square_bracket", "g", "backspace")
        elif key == "4":
            await pilot.press("j", "down", "j", "up")
        elif key == "6":
            await pilot.press("down", "enter")
        elif key == "2":
            await pilot.press("s", "r", "slash", "c", "escape")
        await settle(app, pilot)
    await pilot.press("question_mark")
    await pilot.pause()
    await pilot.press("escape")
    await settle(app, pilot)


@pytest.fixture(autouse=True)
def plain_recommendations(monkeypatch):
    fake_recommendations(monkeypatch, lambda cache: f"# Recommendations\n\n- look at **{cache.class_names[1]}**\n")


# --- terminal size and colour -----------------------------------------------------------------------------


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_every_view_at_40x12(tmp_path, monkeypatch, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    cache = synthetic_cache()

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path, old_cache=better_cache(cache))
        async with app.run_test(size=(40, 12)) as pilot:
            assert app.no_color is no_color
            await tour(app, pilot)
            await pilot.press("3", "w")  # write the PNG from the tiny screen too
            await settle(app, pilot)
            assert app.active_view == "class" and len(app.written) == 1
            for _, _, image in shown_panels(app):  # each picture is drawn, or says the terminal is too small
                text = screen_text(image)
                assert "(enlarge)" in text or set(text) - {" ", "\n"}, text
            assert app.is_running

    run(go())


def test_no_color_draws_every_picture_with_glyphs_only(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    cache = synthetic_cache()

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            for key in "346":
                await pilot.press(key)
                await settle(app, pilot)
                if key == "6":
                    await pilot.press("enter")
                    await settle(app, pilot)
                images = [image for _, _, image in shown_panels(app)]
                assert len(images) >= 2
                for image in images:
                    lines = [image.render_line(y) for y in range(image.size.height)]
                    text = "".join(s.text for line in lines for s in line)
                    assert UPPER_HALF not in text and any(ch in text for ch in ".:-=+*#%@"), key
                    # one style for the whole picture (the widget's own): the picture is in the glyphs alone
                    assert len({s.style for line in lines for s in line}) == 1, key

    run(go())


def test_terminal_resized_while_running(tmp_path):
    """Resize between steps and in the middle of a worker drawing a pair: every picture is redrawn for the
    new size (its lines are exactly as wide as the widget), nothing raises."""
    cache = synthetic_cache()
    sizes = [(120, 40), (40, 12), (20, 6), (200, 60), (41, 13), (80, 24), (12, 4), (120, 40)]

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path, old_cache=better_cache(cache))
        async with app.run_test(size=sizes[0]) as pilot:
            for k, size in enumerate(sizes[1:]):
                key = VIEW_KEYS[k % len(VIEW_KEYS)]
                await pilot.press(key)
                if key == "4":
                    await pilot.press("j")  # a pair figure is being drawn in a thread ...
                    await pilot.resize_terminal(*size)  # ... while the terminal changes
                else:
                    await pilot.resize_terminal(*size)
                    await pilot.press("j", "down")
                await settle(app, pilot)
                assert app.size == size
                for _, _, image in shown_panels(app) if app.active_view in ("class", "pairs", "suspects") else []:
                    w = image.size.width
                    assert all(image.render_line(y).cell_length == w for y in range(image.size.height))
            await pilot.press("3")
            await settle(app, pilot)
            big = [screen_text(image) for _, _, image in shown_panels(app)]
            assert any(UPPER_HALF in text for text in big)  # back at 120x40 the pictures are drawn again

    run(go())


# --- a cache without pictures for some images -------------------------------------------------------------


class UnreadableRows:
    """An images array whose odd rows cannot be read (as a damaged memory-mapped member would fail)."""

    def __init__(self, images: np.ndarray) -> None:
        self._images, self.shape, self.ndim, self.dtype = images, images.shape, images.ndim, images.dtype

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)) and key % 2:
            raise OSError(5, "Input/output error")
        return self._images[key]


def _without_pictures(kind: str):
    cache = synthetic_cache()
    if kind == "short":  # pictures stored for the first half of the images only
        return dataclasses.replace(cache, images=cache.images[: cache.num_images // 2]), cache.num_images // 2
    return dataclasses.replace(cache, images=UnreadableRows(cache.images)), None


@pytest.mark.parametrize("kind", ["short", "unreadable"])
def test_images_missing_for_some_entries_show_a_message_in_place(tmp_path, kind):
    cache, first_missing = _without_pictures(kind)

    def missing(i: int) -> bool:
        return i >= first_missing if kind == "short" else i % 2 == 1

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            view = app.query_one(ClassView)
            seen = {True: 0, False: 0}
            for c in range(cache.num_classes):  # every example of every class
                for _ in range(len(view.examples)):
                    i = view.example.index
                    await pilot.pause()
                    shown = shown_panels(app)
                    title, _, original = shown[0]
                    assert title == "Original"
                    assert (original.panel.rgb is None) is missing(i), i
                    if missing(i):
                        assert original.panel.note == NO_IMAGE and NO_IMAGE in screen_text(original)
                        # the Grad-CAM panels still show the maps (as heatmaps, there being no picture under them)
                        assert all(p.panel.rgb is not None and p.panel.rgb.shape[:2] == (32, 32) for _, _, p in shown[1:])
                    seen[missing(i)] += 1
                    await pilot.press("j")
                await pilot.press("right_square_bracket")
            assert seen[True] and seen[False]
            await pilot.press("4")
            await settle(app, pilot)
            pairs = app.query_one(PairsView)
            for _ in range(len(pairs.images)):
                await settle(app, pilot)
                shown = shown_panels(app)
                assert [t for t, _, _ in shown] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Pred − True"]
                assert (shown[0][2].panel.rgb is None) is missing(pairs.images[pairs.current])
                assert shown[3][2].panel.rgb is not None  # the difference is drawn over grey
                await pilot.press("j")
            await pilot.press("6")
            await settle(app, pilot)
            for _ in range(len(app.query_one(SuspectsView).suspects)):
                await pilot.press("enter")
                await settle(app, pilot)
                i = app.query_one(SuspectsView).image
                assert (shown_panels(app)[0][2].panel.rgb is None) is missing(i)
                await pilot.press("down")
            await pilot.press("3")
            app.query_one(ClassView).show_class(7)  # no pictures ("short"), odd images unreadable ("unreadable")
            await pilot.press("w")  # the PNG writer needs the pictures: it says so, the app keeps running
            await settle(app, pilot)
            assert app.is_running and not app.written
            assert any("Could not write the PNG" in str(n.message) and n.severity == "error"
                       for n in app._notifications)

    run(go())


def test_a_figure_that_cannot_be_built_is_replaced_by_its_reason(tmp_path, monkeypatch):
    import tui.figures

    def broken(*args):
        raise ValueError("cam_topk row 7 is damaged")

    monkeypatch.setattr(tui.figures, "pair_example_panels", broken)
    monkeypatch.setattr("tui.views.pairs.pair_example_panels", broken)
    monkeypatch.setattr("tui.views.class_view.class_example_panels", broken)

    async def go():
        app = GradCamApp(synthetic_cache(), out_dir=tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            for key in "34":
                await pilot.press(key)
                await settle(app, pilot)
                (title, _, image), = shown_panels(app)
                assert title == "Cannot draw this example"
                assert "ValueError: cam_topk row 7 is damaged" in screen_text(image).replace("\n", " ")

    run(go())


# --- names and classes ------------------------------------------------------------------------------------

MARKUP_NAMES = {0: "[/]", 1: "[bold red]x[/bold red] [link=http://e]y", 2: "a\\[b] [@click=app.quit]q[/]",
                3: "<script>alert(1)</script>", 5: "ünï cødé 猫 🐱", 6: "../../etc/passwd"}


def _markup_cache():
    cache = synthetic_cache()
    for k, name in MARKUP_NAMES.items():
        cache.class_names[k] = name
    return cache


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "6", "7"])
def test_class_names_that_look_like_markup_are_shown_as_text(tmp_path, key):
    cache = _markup_cache()

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path, old_cache=better_cache(cache))
        async with app.run_test(size=(160, 48)) as pilot:
            await tour(app, pilot, key)
            assert app.is_running
            if key == "3":  # the names are shown as written
                view = app.query_one(ClassView)
                view.show_class(0)
                await pilot.pause()
                assert "[/]" in str(view.query_one("#class-header").render())
                subtitles = " ".join(s for _, s, _ in shown_panels(app))
                assert "[/]" in subtitles or "true: [/]" in subtitles
            if key == "4":
                table = app.query_one("#pairs-table")
                shown = " ".join(str(c) for r in range(table.row_count) for c in table.get_row_at(r))
                assert "[/]" in shown or "[bold red]x[/bold red]" in shown

    run(go())


def test_a_class_with_no_test_images(tmp_path):
    base = synthetic_cache()
    keep = base.labels != 7
    cache = dataclasses.replace(
        base, images=base.images[keep], labels=base.labels[keep], probs=base.probs[keep],
        topk_classes=base.topk_classes[keep], cam_true=base.cam_true[keep], cam_topk=base.cam_topk[keep],
        masks=base.masks[keep], logits=base.logits[keep], _analysis=None, _diagnostics=None,
    )

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3")
            view = app.query_one(ClassView)
            view.show_class(7)
            await pilot.press("j", "k", "t", "g", "p", "w")
            await settle(app, pilot)
            assert view.class_id == 7 and view.example is None
            assert "No images of this class in the cache." in str(view.query_one(ExampleStrip).render())
            assert "Accuracy: n/a (0/0 correct)" in str(view.query_one("#class-header").render())
            assert shown_panels(app) == []
            await tour(app, pilot, "1246")

    run(go())


# --- the command line with damaged cache folders ----------------------------------------------------------


def _tui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize("damage", ["no images member", "truncated member", "manifest not JSON", "plain folder"])
def test_damaged_cache_folders_exit_2_with_one_sentence(tmp_path, damage):
    from engine.cache import save_cache_folder

    folder = save_cache_folder(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path / "cache")
    if damage == "no images member":
        (folder / "images.npy").unlink()
    elif damage == "truncated member":
        data = (folder / "probs.npy").read_bytes()
        (folder / "probs.npy").write_bytes(data[: len(data) - 7])
    elif damage == "manifest not JSON":
        (folder / "manifest.json").write_text("{not json")
    else:
        folder = tmp_path / "plain"
        folder.mkdir()
    out = _tui(str(folder))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "gradcam-batch" in lines[0], out.stderr

