"""The app as a whole: tabs, number keys and the key list built from the registry of views, `w`, `q`, and
how it copes with terminals (colour, NO_COLOR, small sizes) and with runs that have little to show."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.store import RunCache
from tests.synthetic import synthetic_cache
from tests.tui.helpers import SIZE, least_accurate, settle, text_of
from tui.app import GradCamApp
from tui.keys import keymap
from tui.messages import FigureWritten
from tui.halfblock import UPPER_HALF
from tui.screens.help import HelpScreen
from tui.views import VIEWS, Runs, registered
from tui.views.compare import CompareView
from tui.widgets.confusion_grid import ConfusionGrid
from tui.widgets.half_block_image import HalfBlockImage
from tui.widgets.link_list import LinkList
from tui.widgets.virtual_table import VirtualTable
from engine.figures.examples import class_examples
from engine.reports.filenames import is_report_name


def run(coro) -> None:
    asyncio.run(coro)


# --- the registry -----------------------------------------------------------------------------------------


def test_tabs_and_number_keys_follow_the_registry(small_run, later_run, tmp_path):
    from textual.widgets import TabbedContent, TabPane

    assert [v.KEY for v in VIEWS] == list("123456789") and len({v.TAB for v in VIEWS}) == len(VIEWS)
    assert CompareView not in registered(Runs(small_run)) and CompareView in registered(Runs(small_run, small_run))

    async def go(app, expected):
        async with app.run_test(size=SIZE):
            assert [p.id for p in app.query(TabPane)] == [v.TAB for v in expected]
            tabs = app.query_one(TabbedContent)
            assert [str(tabs.get_tab(v.TAB).label) for v in expected] == [f"{v.KEY} {v.TITLE}" for v in expected]

    run(go(GradCamApp(small_run, out_dir=tmp_path), VIEWS[:-1]))
    run(go(GradCamApp(later_run, out_dir=tmp_path, old_run=small_run), VIEWS))


def test_number_keys_reach_every_view(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            for key, name in zip("234561", ("classes", "class", "pairs", "recommendations", "suspects", "overview")):
                await pilot.press(key)
                await pilot.pause()
                assert app.active_view == name
                assert app.query_one(f"#{name}-view").display
            await app.workers.wait_for_complete()

    run(go())


def test_without_a_second_run_9_says_how_to_compare(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("9")
            await pilot.pause()
            assert app.active_view == "overview"
            assert any("gradcam-tui OLD NEW" in str(n.message) for n in app._notifications)

    run(go())


WIDGETS = (VirtualTable, ConfusionGrid, LinkList)  # the widgets views give the keys to: their keys are the view's


def _bound_keys(*classes) -> set[str]:
    bound = set()
    for cls in classes:
        for klass in cls.__mro__:  # bindings are inherited (e.g. sorting from SortableClassTable)
            for b in klass.__dict__.get("BINDINGS", []):
                bound.update(b.key.split(","))
    return bound


NAMED = {"?": "question_mark", "/": "slash", "]": "right_square_bracket", "[": "left_square_bracket",
         "→": "right", "←": "left", "↑": "up", "↓": "down", "Enter": "enter", "Esc": "escape", "pgup": "pageup",
         "pgdn": "pagedown", "shift+arrows": "shift+up"}
BUILT_IN = {"tab", "shift+tab"}  # Textual's own focus keys


def test_every_key_in_the_key_list_is_bound_where_it_says():
    rows = keymap(VIEWS)
    assert rows[0] == ("anywhere", "1 2 3 4 5 6 7 8 9", " · ".join(v.TITLE for v in VIEWS))
    titles = {v.TITLE: v for v in VIEWS}
    for where, keys, _ in rows:
        bound = _bound_keys(GradCamApp, *([titles[where], *WIDGETS] if where in titles else []))
        if where in ("Classes", "Compare"):
            bound |= {"up", "down", "enter"}  # their DataTable's own
        for k in keys.replace("/", " / ").split():
            if k in ("/", "·") and keys != "/":
                continue
            if k not in BUILT_IN:
                assert NAMED.get(k, k) in bound, f"{k!r} is in the key list under {where} but not bound there"


def test_help_shows_the_keys_of_the_views_of_the_session(small_run, later_run, tmp_path):
    async def go(app) -> str:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            shown = app.export_screenshot().replace("&#160;", " ")  # the SVG's spaces: the top of the list
            shown += " ".join(what for _, _, what in app.screen.rows)  # and the rest, further down
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            return shown

    one = asyncio.run(go(GradCamApp(small_run, out_dir=tmp_path)))
    two = asyncio.run(go(GradCamApp(later_run, out_dir=tmp_path, old_run=small_run)))
    compare_keys = "open the class in the Class view of the new run"
    assert "filter by name as you type" in one and compare_keys not in one
    assert compare_keys in two


def test_q_quits(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running

    run(go())


# --- writing PNGs -----------------------------------------------------------------------------------------


def test_w_writes_the_png_of_the_class_and_of_the_pair_on_screen(small_run, tmp_path):
    from PIL import Image

    out = tmp_path / "figures"
    messages: list[Path] = []

    class Recording(GradCamApp):
        def on_figure_written(self, message: FigureWritten) -> None:
            messages.append(message.path)

    async def go():
        app = Recording(small_run, out_dir=out)
        async with app.run_test(size=SIZE) as pilot:
            for keys in (["3", "w"], ["4", "w"], ["2", "down", "w"]):
                await pilot.press(*keys)
                await settle(app, pilot)
            return list(app.written)

    written = asyncio.run(go())
    assert len(written) == 3 and messages == written
    c = least_accurate(small_run)
    ex = class_examples(small_run.selections, c)[0]
    target = small_run.class_names[int(small_run.cache.preds[ex.index])]
    # the example on screen, named for it; the Classes table's highlighted class's page; never a report name
    assert written[0].name == f"tui_image_{ex.index:05d}_{small_run.class_names[c]}_cam_{target}.png"
    cp = small_run.metrics.confused_pairs
    assert written[1].name.startswith("tui_image_") and written[1].name.endswith(
        f"_{cp['true_name'][0]}_to_{cp['pred_name'][0]}.png")
    assert written[2].name.startswith("tui_class_001_")  # the row highlighted in the Classes table
    assert not any(is_report_name(p.name) for p in written)
    for path in written:
        assert path.parent == out and path.suffix == ".png"
        with Image.open(path) as im:
            im.load()  # decodes the whole file
            assert im.size[0] > 100 and im.size[1] > 100


def test_w_where_there_is_no_figure_says_so_and_writes_nothing(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path / "none")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("w")
            await pilot.pause()
            warned = [str(n.message) for n in app._notifications if n.severity == "warning"]
            assert warned == ["Open a class page (2) or an example (3 or 4 or 6 or 8) or a confusion matrix (7) to "
                              "write its PNG."]
            await app.workers.wait_for_complete()
            assert not app.written

    run(go())
    assert not (tmp_path / "none").exists()


def test_a_png_that_cannot_be_written_is_reported_and_browsing_goes_on(small_run, tmp_path):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")

    async def go():
        app = GradCamApp(small_run, out_dir=blocked)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3", "w")
            await settle(app, pilot)
            assert app.is_running and not app.written
            assert any("Could not write the PNG" in str(n.message) and n.severity == "error"
                       for n in app._notifications)
            await pilot.press("j")
            await settle(app, pilot)
            assert app.query_one("ClassView").current == 1

    run(go())


# --- terminals: colour, NO_COLOR, small sizes -------------------------------------------------------------


def test_images_are_half_blocks_in_colour_and_glyphs_under_no_color(small_run, tmp_path, monkeypatch):
    async def image_text(size) -> tuple[str, bool]:
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=size) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            image = app.query_one(HalfBlockImage)
            lines = [image.render_line(y) for y in range(image.size.height)]
            text = "".join(s.text for line in lines for s in line)
            segments = [s for line in lines for s in line if s.text.strip()]
            coloured = any(s.style is not None and s.style.bgcolor is not None for s in segments)
            return text, coloured

    text, coloured = asyncio.run(image_text(SIZE))
    assert UPPER_HALF in text and coloured
    monkeypatch.setenv("NO_COLOR", "1")
    text, _ = asyncio.run(image_text(SIZE))
    assert UPPER_HALF not in text and any(ch in text for ch in ".:-=+*#%@")


def test_tiny_terminal_degrades_without_errors(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=(40, 12)) as pilot:
            for key in "12345":
                await pilot.press(key)
                await pilot.pause()
            await pilot.press("3", "j", "t")
            await settle(app, pilot)
            app.save_screenshot(str(tmp_path / "tiny.svg"))

    run(go())


def test_runs_without_superclasses_or_errors_still_work(tmp_path):
    c = synthetic_cache()
    perfect = AnalysedRun(RunCache(
        images=c.images,
        labels=c.labels,
        probs=c.probs,
        topk_classes=np.concatenate([c.labels[:, None], c.topk_classes[:, :-1]], axis=1),
        cam_true=c.cam_true,
        cam_topk=c.cam_topk,
        class_names=c.class_names,
        meta={},
    ))

    async def go():
        app = GradCamApp(perfect, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            boxes = " ".join(text_of(w) for w in app.query("#overview-grid Static, #overview-grid LinkList"))
            assert "no superclasses" in boxes and "No misclassifications" in boxes
            for key in "23456":
                await pilot.press(key)
                await pilot.pause()
            await settle(app, pilot)
            assert app.query_one("#suspects-view #images-table").count == len(perfect.suspects)
            await pilot.press("4", "j", "w")
            await app.workers.wait_for_complete()
            assert "nothing is confused" in text_of(app.query_one("#pair-caption"))
            assert not app.written

    run(go())


def test_a_late_tab_activation_does_not_take_the_screen_back(small_run, tmp_path):
    """After a burst of keys a tab's activation can arrive once another tab has replaced it: it must not
    bring its view up (focusing it would make its pane ask for its tab back, and two such late requests
    handed the tabs back and forth for ever)."""
    from textual.widgets import TabbedContent

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            await pilot.press("1")
            await settle(app, pilot)
            tabs = app.query_one(TabbedContent)
            tabs.post_message(TabbedContent.TabActivated(tabs, tabs.get_tab("class")))  # the class view's, late
            await settle(app, pilot)
            assert app.active_view == "overview"
            assert app.focused is not None and app.query_one("#overview-view") in app.focused.ancestors

    run(go())
