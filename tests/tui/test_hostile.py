"""Hostile conditions: a terminal resized while the app runs, 40x12, NO_COLOR, a cache without pictures
for some images, a figure that cannot be built, class names that look like markup or carry control
characters, metadata and paths from strangers, a class with no test images. The app must degrade with a
message and never crash (Textual's run_test re-raises what a handler or worker raised)."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.panels import NO_IMAGE
from tests.cli.terminal import HOSTILE_NAMES
from tests.synthetic import synthetic_cache
from tests.tui.helpers import VIEW_KEYS, better_cache, screen_text, settle, shown_panels, table_rows, text_of, tour
from tui.app import GradCamApp
from tui.halfblock import UPPER_HALF
from tui.views.class_view import ClassView
from tui.views.pairs import PairsView
from tui.views.suspects import SuspectsView
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.example_strip import ExampleStrip


def run(coro) -> None:
    asyncio.run(coro)


def comparing(cache) -> dict:
    """GradCamApp arguments for `cache` against a later run of it (so the Compare tab is there too)."""
    return {"run": AnalysedRun(better_cache(cache)), "old_run": AnalysedRun(cache)}


@pytest.fixture(autouse=True)
def plain_recommendations(use_recommendations):
    use_recommendations(lambda run: f"# Recommendations\n\n- look at **{run.class_names[1]}**\n")


# --- terminal size and colour -----------------------------------------------------------------------------


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_every_view_at_40x12(tmp_path, monkeypatch, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)

    async def go():
        app = GradCamApp(out_dir=tmp_path, **comparing(synthetic_cache()))
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

    async def go():
        app = GradCamApp(AnalysedRun(synthetic_cache()), out_dir=tmp_path)
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
    sizes = [(120, 40), (40, 12), (20, 6), (200, 60), (41, 13), (80, 24), (12, 4), (120, 40)]

    async def go():
        app = GradCamApp(out_dir=tmp_path, **comparing(synthetic_cache()))
        async with app.run_test(size=sizes[0]) as pilot:
            for k, size in enumerate(sizes[1:]):
                key = VIEW_KEYS[k % len(VIEW_KEYS)]
                await pilot.press(key)
                if key in "34":
                    await pilot.press("j")  # a figure is being drawn in a thread ...
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
        app = GradCamApp(AnalysedRun(cache), out_dir=tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            view = app.query_one(ClassView)
            seen = {True: 0, False: 0}
            for c in range(cache.num_classes):  # every example of every class
                for _ in range(len(view.examples)):
                    i = view.example.index
                    await settle(app, pilot)
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
                panels = app.query_one("#pairs-view").query_one(ExampleFigure).panels  # every page of them
                assert [p.title for p in panels] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)",
                                                     "Why Pred, not True", "Pred − True"]
                assert (shown[0][2].panel.rgb is None) is missing(pairs.images[pairs.current])
                assert panels[4].rgb is not None  # the difference is drawn over grey
                await pilot.press("j")
            await pilot.press("6")
            await settle(app, pilot)
            for _ in range(app.query_one(SuspectsView).table.count):
                await settle(app, pilot)
                i = app.query_one(SuspectsView).image
                assert (shown_panels(app)[0][2].panel.rgb is None) is missing(i)
                await pilot.press("down")
            await pilot.press("3")
            app.query_one(ClassView).go_to(7)  # no pictures ("short"), odd images unreadable ("unreadable")
            await settle(app, pilot)
            await pilot.press("w", "W")  # the PNGs draw the missing pictures hatched; the app keeps running
            await settle(app, pilot)
            names = sorted(p.name for p in app.written)  # the class's page, and the example on screen
            assert app.is_running and len(names) == 2
            assert names[0].startswith("tui_class_007_") and names[1].startswith("tui_image_")

    run(go())


def test_a_figure_that_cannot_be_built_is_replaced_by_its_reason(tmp_path, monkeypatch):
    def broken(*args):
        raise ValueError("cam_topk row 7 is damaged")

    monkeypatch.setattr("tui.views.pairs.pair_example_panels", broken)
    monkeypatch.setattr("tui.views.class_view.class_example_panels", broken)

    async def go():
        app = GradCamApp(AnalysedRun(synthetic_cache()), out_dir=tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            for key in "34":
                await pilot.press(key)
                await settle(app, pilot)
                (title, _, image), = shown_panels(app)
                assert title == "Cannot draw this example"
                assert "ValueError: cam_topk row 7 is damaged" in screen_text(image).replace("\n", " ")

    run(go())


# --- names, metadata and paths from strangers -------------------------------------------------------------

MARKUP_NAMES = {0: "[/]", 1: "[bold red]x[/bold red] [link=http://e]y", 2: "a\\[b] [@click=app.quit]q[/]",
                3: "<script>alert(1)</script>", 5: "ünï cødé 猫 🐱", 6: "../../etc/passwd"}


def _markup_cache():
    cache = synthetic_cache()
    for k, name in MARKUP_NAMES.items():
        cache.class_names[k] = name
    return cache


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "6", "7"])
def test_class_names_that_look_like_markup_are_shown_as_text(tmp_path, key):
    async def go():
        app = GradCamApp(out_dir=tmp_path, **comparing(_markup_cache()))
        async with app.run_test(size=(160, 48)) as pilot:
            await tour(app, pilot, key)
            assert app.is_running
            if key == "3":  # the names are shown as written
                view = app.query_one(ClassView)
                view.go_to(0)
                await settle(app, pilot)
                assert "[/]" in text_of(view.query_one("#class-header"))
                captions = " ".join(s for _, s, _ in shown_panels(app))
                assert "[/]" in captions or "true: [/]" in captions
            if key == "4":
                shown = " ".join(" ".join(r) for r in table_rows(app.query_one("#pairs-table")))
                assert "[/]" in shown or "[bold red]x[/bold red]" in shown

    run(go())


def test_the_tui_shows_hostile_names_and_metadata_escaped(tmp_path):
    cache = synthetic_cache()
    cache.class_names[:5] = HOSTILE_NAMES[:5]
    cache.superclass_names = ["\x1b[31mgroup_a", "group\x07b"]
    cache.meta["model"]["arch"] = "\x1b]0;owned\x07net"
    cache.meta["data"]["source"] = "\x9b2J/data"
    screens: list[str] = []

    async def go() -> None:
        app = GradCamApp(AnalysedRun(cache), old_run=AnalysedRun(better_cache(cache)), out_dir=tmp_path,
                         cache_path=tmp_path / "x\x1b[2J.npz")
        async with app.run_test(size=(140, 45)) as pilot:
            for key in "123456789":
                await pilot.press(key)
                await settle(app, pilot)
                if key == "6":
                    await pilot.press("down")
                    await settle(app, pilot)
                screens.append(app.export_screenshot())
            await pilot.press("3", "w")
            await settle(app, pilot)
            screens.append(app.export_screenshot())
            assert app.written  # the PNG keeps the real names (engine.reports draws them)

    run(go())
    for svg in screens:
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", svg)
    everything = "".join(screens).replace("&#160;", " ")
    assert "\\x1b]0;owned\\x07net" in everything  # the overview names the model, escaped
    assert "\\x1b[2Jdog" in everything  # a class name, escaped, in a table
    assert "x\\x1b[2J.npz" in everything  # the path (the Compare tab names the runs), escaped


def test_the_tui_writes_into_a_markup_path_and_says_where(tmp_path):
    out = tmp_path / "figs[/]x[bold]"
    shown: list[str] = []

    async def go() -> None:
        app = GradCamApp(AnalysedRun(synthetic_cache()), out_dir=out)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3", "w")
            await settle(app, pilot)
            shown.extend(str(n.message) for n in app._notifications)
            assert app.written and app.written[0].parent == out.resolve()

    run(go())
    assert any(str(out) in m for m in shown), shown


def test_a_class_with_no_test_images(tmp_path):
    base = synthetic_cache()
    keep = base.labels != 7
    per_image = ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "masks", "logits", "cam_contrast")
    cache = dataclasses.replace(base, **{name: getattr(base, name)[keep] for name in per_image})

    async def go():
        app = GradCamApp(AnalysedRun(cache), out_dir=tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3")
            view = app.query_one(ClassView)
            view.go_to(7)
            await pilot.press("j", "k", "t", "g", "p", "w")
            await settle(app, pilot)
            assert view.class_id == 7 and view.example is None
            assert "No images of this class in the cache." in str(view.query_one(ExampleStrip).render())
            assert "Accuracy: n/a (0/0 correct)" in text_of(view.query_one("#class-header"))
            assert shown_panels(app) == []
            await tour(app, pilot, "1246")

    run(go())


# --- the command around the app: interrupts, crashes it cannot catch, crafted caches ---------------------

SUPERVISED_CHILD = """
import os, signal, sys
from tui.supervise import supervised
sig = int(sys.argv[1])
def app():
    os.write(1, b"\\x1b[?1049h\\x1b[?1003h")  # what the app's driver turns on
    os.kill(os.getpid(), sig)
    return 0
raise SystemExit(supervised(app))
"""


@pytest.mark.parametrize("sig", ["SIGBUS", "SIGTERM"])
def test_an_app_killed_by_a_signal_leaves_the_terminal_restored(sig):
    """A member truncated under the memory map is a SIGBUS no Python code can catch; SIGTERM kills a child
    that is stuck. The watching parent puts the terminal back and says why in one sentence."""
    import os
    import subprocess
    import sys

    from tests.tui.helpers import ROOT

    number = int(getattr(__import__("signal"), sig))
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISED_CHILD, str(number)], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, cwd=ROOT)
    os.close(slave)
    _, err = proc.communicate(timeout=60)
    shown = b""
    try:
        while chunk := os.read(master, 4096):
            shown += chunk
    except OSError:  # the pty is closed once the child is gone
        pass
    os.close(master)
    assert proc.returncode == 128 + number, err
    assert b"\x1b[?1003l" in shown and shown.rindex(b"\x1b[?1049l") > shown.index(b"\x1b[?1049h")
    text = err.decode()
    assert "Traceback" not in text and text.strip().startswith("gradcam-tui: ") and len(text.strip().splitlines()) == 1
    assert ("truncated" if sig == "SIGBUS" else sig) in text and "the terminal is restored" in text


def test_ctrl_c_while_the_cache_loads_is_a_calm_exit_130(small_cache_file, monkeypatch, capsys):
    import engine.analysis.analysed_run as analysed_run
    import tui.__main__ as tui_main

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(analysed_run, "open_run", interrupted)
    with pytest.raises(SystemExit) as exit_:
        tui_main.main([str(small_cache_file)])
    err = capsys.readouterr().err
    assert exit_.value.code == 130 and err == "gradcam-tui: interrupted before the app started; nothing was changed.\n"


@pytest.mark.parametrize("kind", ["8 TB member", "meta_json 200,000 deep", "0 images", "CAMs (N, 0, 0)", "name too long"])
def test_crafted_caches_and_impossible_paths_are_one_sentence(small_cache_file, tmp_path, capsys, kind):
    import tui.__main__ as tui_main
    from tests.cli.test_hostile_inputs import CRAFTED, _crafted

    path = tmp_path / ("x" * 300) if kind == "name too long" else _crafted(small_cache_file, kind, tmp_path / "bad.npz")
    with pytest.raises(SystemExit) as exit_:
        tui_main.main([str(path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (CRAFTED.get(kind) or "No cache at") in err


def test_sigterm_to_the_real_app_quits_it_as_q_does(small_cache_file):
    """`kill PID` (what timeout, systemd and Slurm send) to a running gradcam-tui: the app ends as `q` ends it,
    the terminal leaves the alternate screen with mouse tracking off, one sentence says why, exit 143."""
    import fcntl
    import os
    import select
    import signal
    import struct
    import subprocess
    import sys
    import termios
    import time

    from tests.tui.helpers import ROOT

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    proc = subprocess.Popen([sys.executable, "-m", "tui", str(small_cache_file)], stdin=slave, stdout=slave,
                            stderr=slave, cwd=ROOT, env=env,  # Textual draws on stderr: all of it is the terminal
                            process_group=0)  # the watcher and the app it forks, killed together on a failure
    os.close(slave)
    shown, deadline = b"", time.monotonic() + 60
    try:
        while b"Overview" not in shown and time.monotonic() < deadline:  # the first screen is up
            if select.select([master], [], [], 0.5)[0]:
                shown += os.read(master, 65536)
        assert b"Overview" in shown, shown[-500:]
        proc.send_signal(signal.SIGTERM)
        try:
            while select.select([master], [], [], 5)[0]:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                shown += chunk
        except OSError:  # the pty closes once the app is gone
            pass
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # a failed check leaves no app behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    assert proc.returncode == 128 + signal.SIGTERM, shown[-500:]
    left = shown.rindex(b"\x1b[?1049l")
    assert left > shown.index(b"\x1b[?1049h") and b"\x1b[?1003l" in shown
    after = shown[left:].decode(errors="replace")
    assert "gradcam-tui: ended by SIGTERM; the terminal is restored." in after and "Traceback" not in after
