"""Functional tests of the gradcam-tui app: drive it with Textual's Pilot and check what it shows.

pytest-asyncio is not a dependency, so each test runs its coroutine with asyncio.run(). The numbers the
app shows are checked against engine.analysis, and the pixels against engine.cam_display, so a view that
drifts from the reports fails here.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.cache import RunCache, save_cache
from engine.cam_display import display_cam, heatmap_rgb, overlay_rgb
from tests.synthetic import synthetic_cache
from tests.tui_fakes import fake_recommendations
from tui.app import GradCamApp
from tui.messages import FigureWritten
from tui.halfblock import UPPER_HALF, fit, render
from tui.keys import KEYMAP
from tui.model import class_examples, pair_examples, pct
from tui.screens.help import HelpScreen
from tui.views.class_view import ClassView
from tui.views.classes import ClassesView
from tui.views.pairs import PairsView
from tui.views.recommendations import RecommendationsView
from tui.views.suspects import SuspectsView
from tui.widgets.example_strip import ExampleStrip
from tui.widgets.half_block_image import HalfBlockImage
from tui.widgets.image_panel import ImagePanel

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 40)


def run(coro) -> None:
    asyncio.run(coro)


def text_of(widget) -> str:
    """The plain text a Static/Label shows."""
    return str(widget.render())


def panels(app) -> list:
    """(title, subtitle, Panel) of the visible image panels of the active view."""
    view = app.query_one(f"#{app.active_view}-view")
    out = []
    for slot in view.query(ImagePanel):
        if slot.display:
            title, subtitle = text_of(slot.query_one(".title")), text_of(slot.query_one(".subtitle"))
            out.append((title, subtitle, slot.query_one(HalfBlockImage).panel))
    return out


def worst_class(cache: RunCache) -> int:
    pc = cache.analysis.per_class
    return int(pc.sort_values(["accuracy", "class_id"], kind="mergesort").iloc[0]["class_id"])


# --- the half-block renderer ------------------------------------------------------------------------------


def test_half_blocks_put_upper_pixel_in_fg_and_lower_in_bg():
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[0::2] = (255, 0, 0)  # even rows red
    rgb[1::2] = (0, 0, 255)  # odd rows blue
    strips = render(rgb, rgb[..., 0] / 255.0, cols=8, rows=4)
    assert strips is not None and len(strips) == 4
    segs = [s for s in strips[0] if s.text.strip()]
    assert segs and all(set(s.text) == {UPPER_HALF} for s in segs)
    style = segs[0].style
    assert style.color.triplet == (255, 0, 0) and style.bgcolor.triplet == (0, 0, 255)
    assert all(s.cell_length == 8 for s in strips)


def test_fit_keeps_aspect_and_small_areas_give_up():
    assert fit(32, 32, 80, 10) == (20, 20)  # height-bound: 10 rows = 20 pixels
    assert fit(32, 64, 40, 40) == (20, 40)
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    assert render(rgb, rgb[..., 0] / 255.0, cols=4, rows=2) is None


def test_no_color_rendering_uses_density_glyphs_only():
    mono = np.tile(np.linspace(0, 1, 16), (16, 1))
    strips = render(np.zeros((16, 16, 3), np.uint8), mono, cols=16, rows=8, color=False)
    text = "".join(s.text for strip in strips for s in strip)
    assert UPPER_HALF not in text
    assert text.strip()[0] == " " or "@" in text  # dark on the left, full density on the right
    assert all(seg.style is not None for strip in strips for seg in strip)


# --- navigation -------------------------------------------------------------------------------------------


def test_overview_shows_the_run(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.active_view == "overview"
            summary = text_of(app.query_one("#summary"))
            a = small_cache.analysis
            assert f"Top-1  {pct(a.top1)} ({a.num_correct}/{a.num_images} correct)" in summary
            assert pct(a.top5) in summary and "synthetic" in summary
            worst_name = small_cache.class_names[worst_class(small_cache)]
            boxes = " ".join(text_of(w) for w in app.query("#overview-grid Static"))
            assert worst_name in boxes
            top = a.confused_pairs.iloc[0]
            assert f"{top.true_name} → {top.pred_name}" in boxes
            assert "90-100%" in boxes  # the accuracy histogram
            assert "group_a" in boxes  # superclasses

    run(go())


def test_number_keys_reach_every_view(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            for key, name in zip("234561", ("classes", "class", "pairs", "recommendations", "suspects", "overview")):
                await pilot.press(key)
                await pilot.pause()
                assert app.active_view == name
                assert app.query_one(f"#{name}-view").display
            await app.workers.wait_for_complete()

    run(go())


def test_classes_filter_as_you_type_sort_and_open(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            view = app.query_one(ClassesView)
            table = view.table
            assert table.row_count == small_cache.num_classes
            await pilot.press("slash", "o", "d")
            await pilot.pause()
            assert table.row_count == 1  # "odd/na me<b>" only
            await pilot.press("backspace", "backspace", "c", "l", "a", "s", "s", "_", "1")
            await pilot.pause()
            assert [str(table.get_row_at(r)[1]) for r in range(table.row_count)] == ["class_1"]
            await pilot.press("escape")  # clears the filter, back to the table
            await pilot.pause()
            assert table.row_count == small_cache.num_classes and table.has_focus
            for _ in range(3):  # id -> class -> superclass -> accuracy
                await pilot.press("s")
            await pilot.pause()
            assert str(table.get_row_at(0)[1]) == small_cache.class_names[worst_class(small_cache)]
            await pilot.press("r")
            await pilot.pause()
            assert str(table.get_row_at(0)[3]) == pct(small_cache.analysis.per_class["accuracy"].max())
            await pilot.press("s", "s", "s")  # errors -> wrong prediction -> back to id, still reversed
            await pilot.pause()
            assert str(table.get_row_at(0)[0]) == str(small_cache.num_classes - 1)
            await pilot.press("r")
            await pilot.pause()
            assert view.highlighted_class() == 1  # the cursor stays on its class through filters and sorts
            await pilot.press("down", "down", "enter")
            await pilot.pause()
            assert app.active_view == "class"
            assert app.query_one(ClassView).class_id == 3

    run(go())


def test_class_view_header_examples_and_target(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await pilot.pause()
            view = app.query_one(ClassView)
            c = worst_class(small_cache)
            assert view.class_id == c
            row = small_cache.analysis.per_class.iloc[c]
            header = text_of(view.query_one("#class-header"))
            assert f"Accuracy: {pct(row.accuracy)} ({row.correct}/{row.support} correct)" in header
            kinds = [k for _, k in small_cache.analysis.worst_of(c)]
            assert f"Worst predictions found: {len(kinds)} — misclassified {kinds.count(0)}" in header
            assert "Most common misclassifications: class_0 (" in header
            assert len(view.query_one(ExampleStrip).examples) == len(class_examples(small_cache, c))

            ex = view.example
            i = ex.index
            shown = panels(app)
            assert [t for t, _, _ in shown] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Heatmap (Pred)"]
            # the pixels are engine.cam_display's, at the image's own resolution, as in the PNGs
            pred = int(small_cache.preds[i])
            cam = display_cam(small_cache.cam_for(i, pred), small_cache.images.shape[1:3])
            assert np.array_equal(shown[2][2].rgb, overlay_rgb(small_cache.images[i], cam))
            assert np.array_equal(shown[3][2].rgb, heatmap_rgb(cam))

            await pilot.press("t")  # prediction -> the next top-k class
            await pilot.pause()
            second = int(small_cache.topk_classes[i, 1])
            assert view.target == second
            title = panels(app)[2][0]
            assert title == ("Grad-CAM (True)" if second == int(small_cache.labels[i]) else "Grad-CAM (Top-2)")
            seen = {view.target}
            for _ in range(len(small_cache.cam_classes(i)) - 1):
                await pilot.press("t")
                seen.add(view.target)
            assert seen == set(small_cache.cam_classes(i))
            assert view.target == pred  # full circle

            await pilot.press("j", "j")
            assert view.current == 2
            await pilot.press("k", "left")
            assert view.current == 0
            await pilot.press("left")  # wraps to the last best example
            ex = view.example
            assert ex.group == "best"
            assert [t for t, _, _ in panels(app)] == ["Original", "Grad-CAM overlay", "Heatmap only"]

    run(go())


def test_g_goes_to_the_confused_class_and_backspace_returns(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            view = app.query_one(ClassView)
            start = view.class_id
            i = view.example.index
            assert view.example.misclassified
            await pilot.press("g")
            await pilot.pause()
            assert view.class_id == int(small_cache.preds[i]) != start
            await pilot.press("backspace")
            assert view.class_id == start
            await pilot.press("right_square_bracket")
            assert view.class_id == (start + 1) % small_cache.num_classes
            await pilot.press("left_square_bracket", "p")  # worst example of class 1: the top pair 1 -> 0
            await pilot.pause()
            assert app.active_view == "pairs" and app.query_one(PairsView).rank == 1

    run(go())


def test_clicking_a_header_sorts_by_that_column(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await pilot.pause()
            view = app.query_one(ClassesView)
            region = view.table._get_column_region(3)  # "accuracy"
            await pilot.click(view.table, offset=(region.x + 1, 0))
            await pilot.pause()
            assert view.sort_column == 3 and not view.sort_reverse
            await pilot.click(view.table, offset=(region.x + 1, 0))
            await pilot.pause()
            assert view.sort_reverse
            assert str(view.table.get_row_at(0)[3]) == pct(small_cache.analysis.per_class["accuracy"].max())

    run(go())


def test_pairs_view_shows_both_maps_and_their_difference(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await app.workers.wait_for_complete()
            await pilot.pause()
            view = app.query_one(PairsView)
            top = small_cache.analysis.confused_pairs.iloc[0]
            assert view.rank == 1
            assert view.images == pair_examples(small_cache, int(top.true_id), int(top.pred_id))
            shown = panels(app)
            assert [t for t, _, _ in shown] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Pred − True"]
            assert shown[1][1].startswith(str(top.true_name)) and shown[2][1].startswith(str(top.pred_name))
            await pilot.press("j")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert view.current == 1
            assert "example 2/" in text_of(view.query_one("#pair-caption"))
            await pilot.press("down")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert view.rank == 2
            second = small_cache.analysis.confused_pairs.iloc[1]
            await pilot.press("g")
            await pilot.pause()
            assert app.active_view == "class"
            assert app.query_one(ClassView).class_id == int(second.true_id)

    run(go())


def test_recommendations_view_renders_the_engines_markdown(small_cache, tmp_path, monkeypatch):
    fake_recommendations(
        monkeypatch, lambda cache: f"# Recommendations\n\n- look at **{cache.class_names[1]}** first\n"
    )

    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await app.workers.wait_for_complete()
            await pilot.pause()
            view = app.query_one(RecommendationsView)
            assert "look at **class_1** first" in view.markdown_text
            assert view.query("#recommendations-md")

    run(go())


def test_recommendations_view_survives_a_failing_engine(small_cache, tmp_path, monkeypatch):
    def boom(cache):
        raise RuntimeError("no rules")

    fake_recommendations(monkeypatch, boom)

    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "RuntimeError\\: no rules" in app.query_one(RecommendationsView).markdown_text  # as text

    run(go())


def test_suspects_view_lists_the_diagnostics_and_enter_shows_both_maps(small_cache, tmp_path):
    sus = small_cache.diagnostics.suspects
    assert len(sus) >= 2

    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await app.workers.wait_for_complete()
            await pilot.pause()
            view = app.query_one("#suspects-view", SuspectsView)
            table = view.query_one("#suspects-table")
            assert table.display and table.row_count == len(sus)
            assert not view.query("LoadingIndicator")
            assert app.focused is table
            for k, r in enumerate(sus.itertuples()):
                row = [str(x) for x in table.get_row_at(k)]
                assert row == [str(r.rank), str(r.image), r.given, r.suggested, pct(r.p_given), pct(r.p_suggested)]
            await pilot.press("down", "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            s = sus.iloc[1]
            i = int(s["image"])
            assert view.image == i
            assert f"image {i}: given {s['given']}" in text_of(app.query_one("#suspect-caption"))
            shown = panels(app)
            assert [t for t, _, _ in shown[:2]] == ["Original", "Grad-CAM (given)"]
            size = small_cache.images.shape[1:3]
            expect = overlay_rgb(small_cache.images[i], display_cam(small_cache.cam_for(i, int(s["given_id"])), size))
            assert np.array_equal(shown[1][2].rgb, expect)
            if small_cache.cam_for(i, int(s["suggested_id"])) is None:
                assert len(shown) == 2 and "no stored Grad-CAM" in text_of(app.query_one("#suspect-caption"))
            else:
                assert shown[2][0] == "Grad-CAM (suggested)" and s["suggested"] in shown[2][1]

    run(go())


def test_suspects_view_says_when_the_suggested_class_has_no_map(small_cache, tmp_path):
    from dataclasses import replace

    s = small_cache.diagnostics.suspects.iloc[0]
    i, sug = int(s["image"]), int(s["suggested_id"])
    topk = small_cache.topk_classes.copy()
    # keep the given label's map (cam_true), drop the suggested class from this image's stored top-k
    others = [c for c in range(small_cache.num_classes) if c != sug]
    topk[i] = others[: topk.shape[1]]
    cache = replace(small_cache, topk_classes=topk, _analysis=None)
    assert cache.cam_for(i, sug) is None

    async def go():
        app = GradCamApp(cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "no stored Grad-CAM for" in text_of(app.query_one("#suspect-caption"))
            assert [t for t, _, _ in panels(app)] == ["Original", "Grad-CAM (given)"]

    run(go())


def test_help_lists_the_key_map_and_every_listed_key_is_bound(small_cache, tmp_path):
    bound = set()
    for cls in (GradCamApp, ClassesView, ClassView, PairsView):
        for klass in cls.__mro__:  # bindings are inherited (e.g. sorting from SortableClassTable)
            for b in klass.__dict__.get("BINDINGS", []):
                bound.update(b.key.split(","))
    named = {"?": "question_mark", "/": "slash", "]": "right_square_bracket", "[": "left_square_bracket"}
    named.update({"→": "right", "←": "left"})
    for _, keys, _ in KEYMAP:
        for k in keys.replace("/", " / ").split():
            if k in ("/", "·") and keys != "/":
                continue
            if k in ("tab", "shift+tab", "↑", "↓", "Enter"):  # Textual's own focus and DataTable keys
                continue
            assert named.get(k, k) in bound, f"{k!r} is in the help but not bound"

    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)

    run(go())


def test_q_quits(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running

    run(go())


# --- writing PNGs -----------------------------------------------------------------------------------------


def test_w_writes_the_png_of_the_class_and_of_the_pair_on_screen(small_cache, tmp_path):
    from PIL import Image

    out = tmp_path / "figures"
    messages: list[Path] = []

    class Recording(GradCamApp):
        def on_figure_written(self, message: FigureWritten) -> None:
            messages.append(message.path)

    async def go():
        app = Recording(small_cache, out_dir=out)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3", "w")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("4", "w")
            await app.workers.wait_for_complete()
            await pilot.pause()
            return list(app.written)

    written = asyncio.run(go())
    assert len(written) == 2 and messages == written
    c = worst_class(small_cache)
    assert written[0].name.startswith(f"class_{c:03d}_") and written[1].name.startswith("confused_pair_1_")
    for path in written:
        assert path.parent == out and path.suffix == ".png"
        with Image.open(path) as im:
            im.load()  # decodes the whole file
            assert im.size[0] > 100 and im.size[1] > 100


def test_w_where_there_is_no_figure_says_so_and_writes_nothing(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path / "none")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("w")
            await pilot.pause()
            assert any(n.severity == "warning" for n in app._notifications)
            await app.workers.wait_for_complete()
            assert not app.written

    run(go())
    assert not (tmp_path / "none").exists()


# --- terminals: colour, NO_COLOR, small sizes -------------------------------------------------------------


def test_images_are_half_blocks_in_colour_and_glyphs_under_no_color(small_cache, tmp_path, monkeypatch):
    async def image_text(size) -> tuple[str, bool]:
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=size) as pilot:
            await pilot.press("3")
            await pilot.pause()
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


def test_tiny_terminal_degrades_without_errors(small_cache, tmp_path):
    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=(40, 12)) as pilot:
            for key in "12345":
                await pilot.press(key)
                await pilot.pause()
            await pilot.press("3", "j", "t")
            await app.workers.wait_for_complete()
            await pilot.pause()
            app.save_screenshot(str(tmp_path / "tiny.svg"))

    run(go())


def test_caches_without_superclasses_or_errors_still_work(tmp_path):
    c = synthetic_cache()
    perfect = RunCache(
        images=c.images,
        labels=c.labels,
        probs=c.probs,
        topk_classes=np.concatenate([c.labels[:, None], c.topk_classes[:, :-1]], axis=1),
        cam_true=c.cam_true,
        cam_topk=c.cam_topk,
        class_names=c.class_names,
        meta={},
    )

    async def go():
        app = GradCamApp(perfect, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            boxes = " ".join(text_of(w) for w in app.query("#overview-grid Static"))
            assert "no superclasses" in boxes and "No misclassifications" in boxes
            for key in "23456":
                await pilot.press(key)
                await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.query_one("#suspects-table").row_count == len(perfect.diagnostics.suspects)
            await pilot.press("4", "j", "w")
            await app.workers.wait_for_complete()
            assert "nothing is confused" in text_of(app.query_one("#pair-caption"))

    run(go())


# --- the command line -------------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env
    )


def test_missing_cache_exits_2_with_the_message_and_no_traceback(tmp_path):
    out = _cli(str(tmp_path / "nothing.npz"))
    assert out.returncode == 2
    assert "No cache at" in out.stderr and "gradcam-batch" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_wrong_version_and_garbage_caches_exit_2(tmp_path, small_cache):
    old = tmp_path / "old.npz"
    np.savez(old, schema_version=np.array(999))
    out = _cli(str(old))
    assert out.returncode == 2 and "schema version 999" in out.stderr and "Traceback" not in out.stderr
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    out = _cli(str(junk))
    assert out.returncode == 2 and "gradcam-batch" in out.stderr and "Traceback" not in out.stderr


def test_console_script_is_the_same_entry_point(tmp_path):
    script = Path(sys.executable).with_name("gradcam-tui")
    if not script.exists():
        pytest.skip("gradcam-tui console script is not installed in this environment")
    out = subprocess.run([str(script), str(tmp_path / "x.npz")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "No cache at" in out.stderr and "Traceback" not in out.stderr


def test_defaults_read_gradcam_results_and_write_next_to_the_cache():
    from tui.__main__ import parse_args

    args = parse_args([])
    assert Path(args.cache) == Path("gradcam_results") / "cache.npz" and args.out is None
    assert parse_args(["c.npz", "--out", "figs"]).out == Path("figs")


CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from tui.__main__ import main  # the real entry point's imports
    from engine.cache import load_cache
    from tui.app import GradCamApp

    async def go():
        app = GradCamApp(load_cache(sys.argv[1]), out_dir=sys.argv[2])
        async with app.run_test(size=(100, 30)) as pilot:
            for key in ["2", "enter", "3", "j", "t", "g", "4", "j", "5", "question_mark", "escape", "1"]:
                await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()

    asyncio.run(go())
    bad = ["torch", "torchvision", "engine.models", "engine.inference", "engine.pipeline", "engine.data"]
    print(json.dumps({m: m in sys.modules for m in bad}))
    """
)


def test_the_app_never_imports_torch(small_cache_file, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(small_cache_file), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any(loaded.values()), f"the TUI imported {[m for m, v in loaded.items() if v]}"


def test_cache_on_disk_round_trips_into_the_app(small_cache, tmp_path):
    """The app is started from a saved cache the way the command line does it."""
    from engine.cache import load_cache

    path = save_cache(small_cache, tmp_path / "c.npz")

    async def go():
        app = GradCamApp(load_cache(path), out_dir=path.parent, cache_path=path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await pilot.pause()
            assert app.out_dir == path.parent
            assert app.query_one(ClassView).class_id == worst_class(small_cache)

    run(go())


# --- comparing two runs (gradcam-tui OLD NEW) -------------------------------------------------------------


def test_compare_tab_lists_the_per_class_deltas_and_enter_opens_the_class(small_cache, tmp_path):
    from engine.compare import compare
    from tests.tui_fakes import better_cache
    from tui.views.compare import CompareView

    old, new = small_cache, better_cache(small_cache)
    expected = compare(old, new)

    async def go():
        app = GradCamApp(new, out_dir=tmp_path, old_cache=old)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.active_view == "compare"
            view = app.query_one(CompareView)
            table = view.table
            pc = expected.per_class.sort_values(["delta", "class_id"], kind="mergesort")
            assert [int(k.value) for k in table.rows] == pc.class_id.tolist()  # worst regression first
            assert pc.delta.iloc[0] < 0 < pc.delta.iloc[-1]
            for i, r in enumerate(pc.itertuples(index=False)):
                assert [str(c) for c in table.get_row_at(i)] == [
                    r.class_name, r.superclass, pct(r.accuracy_old), pct(r.accuracy_new), f"{r.delta * 100:+.1f}",
                    str(r.fixed), str(r.broken),
                ]
            s = expected.summary
            shown = text_of(app.query_one("#compare-summary"))
            assert f"{pct(s['top1_old'])} → {pct(s['top1_new'])}" in shown
            assert f"fixed {s['fixed']} · broken {s['broken']}" in shown
            assert f"{s['ece_old']:.4f} → {s['ece_new']:.4f}" in shown
            await pilot.press("r")  # reversed: best improvement first
            await pilot.pause()
            assert int(table.coordinate_to_cell_key((0, 0)).row_key.value) == int(pc.class_id.iloc[-1])
            await pilot.press("s")  # next column: fixed
            await pilot.pause()
            assert "sorted by fixed" in text_of(app.query_one("#compare-sort"))
            await pilot.press("r", "s", "s", "s", "s", "s", "s")  # back to delta, ascending
            await pilot.pause()
            await pilot.press("down", "enter")
            await pilot.pause()
            assert app.active_view == "class"
            assert app.query_one(ClassView).class_id == int(pc.class_id.iloc[1])
            assert app.query_one(ClassView).cache is new
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen) and "older" in app.export_screenshot()  # the Compare keys

    run(go())


def test_without_a_second_cache_there_is_no_compare_tab(small_cache, tmp_path):
    from textual.widgets import TabPane

    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            assert "compare" not in [p.id for p in app.query(TabPane)]
            await pilot.press("7")
            await pilot.pause()
            assert app.active_view == "overview"

    run(go())


def test_compare_keys_in_the_help_are_bound():
    from tui.keys import COMPARE_KEYMAP
    from tui.views.compare import CompareView

    bound = {k for cls in (GradCamApp, CompareView) for b in cls.BINDINGS for k in b.key.split(",")}
    for _, keys, _ in COMPARE_KEYMAP:
        for k in keys.split():
            if k not in ("↑", "↓", "Enter"):
                assert k in bound, f"{k!r} is in the help but not bound"


def test_compare_view_says_why_when_compare_fails_later(small_cache, tmp_path):
    import dataclasses

    other_pixels = dataclasses.replace(small_cache, images=small_cache.images[::-1].copy(), _analysis=None)

    async def go():
        app = GradCamApp(small_cache, out_dir=tmp_path, old_cache=other_pixels)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "different images" in text_of(app.query_one("#compare-status"))

    run(go())


def test_two_incomparable_caches_exit_2_with_one_sentence(tmp_path, small_cache):
    a = save_cache(small_cache, tmp_path / "a.npz")
    b = save_cache(synthetic_cache(n_per_class=10), tmp_path / "b.npz")
    out = _cli(str(a), str(b))
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "not on the same test set" in lines[0]
    out = _cli(str(a), str(tmp_path / "missing.npz"))
    assert out.returncode == 2 and "No cache at" in out.stderr and "Traceback" not in out.stderr
