"""Class: the notebook's per-class page, its examples drawn with the reports' own panels, and the keys
that move between examples, Grad-CAM targets and classes."""

from __future__ import annotations

import asyncio

import numpy as np

from engine.analysis.cam_maps import display_cam
from engine.figures.colours import heatmap_rgb, overlay_rgb
from engine.figures.examples import class_examples
from engine.figures.numbers import pct
from tests.tui.helpers import SIZE, least_accurate, settle, shown_panels, text_of
from tui.app import GradCamApp
from tui.views.class_view import ClassView
from tui.views.pairs import PairsView
from tui.widgets.example_strip import ExampleStrip


def titles(app) -> list[str]:
    return [t for t, _, _ in shown_panels(app)]


def test_class_view_header_examples_and_target(small_run, tmp_path):
    cache = small_run.cache

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            view = app.query_one(ClassView)
            c = least_accurate(small_run)
            assert view.class_id == c
            pc = small_run.metrics.per_class
            header = text_of(view.query_one("#class-header"))
            assert f"Accuracy: {pct(pc['accuracy'][c])} ({pc['correct'][c]}/{pc['support'][c]} correct)" in header
            kinds = [k for _, k in small_run.selections.worst_of(c)]
            assert f"Worst predictions: {len(kinds)} — misclassified {kinds.count(0)}" in header
            assert "Most common misclassifications: class_0 (" in header
            assert view.query_one(ExampleStrip).examples == class_examples(small_run.selections, c)

            i = view.example.index
            shown = shown_panels(app)
            assert titles(app) == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Why Pred, not True  v▸"]
            # the pixels are engine.figures', at the image's own resolution, as in the PNGs
            pred = int(cache.preds[i])
            cam = display_cam(cache.cam_for(i, pred), cache.images.shape[1:3])
            assert np.array_equal(shown[2][2].panel.rgb, overlay_rgb(cache.images[i], cam))
            contrast = display_cam(cache.cam_contrast[i], cache.images.shape[1:3])
            assert np.array_equal(shown[3][2].panel.rgb, overlay_rgb(cache.images[i], contrast))
            await pilot.press("v")  # the fifth panel, which 160 columns do not hold beside the others
            await settle(app, pilot)
            assert titles(app) == ["Heatmap (Pred)  v▸"]
            assert np.array_equal(shown_panels(app)[0][2].panel.rgb, heatmap_rgb(cam))
            await pilot.press("v")
            await settle(app, pilot)
            assert f"target: {small_run.class_names[pred]} (Pred)" in text_of(view.query_one("#example-caption"))

            await pilot.press("t")  # prediction -> the next top-k class
            await settle(app, pilot)
            second = int(cache.topk_classes[i, 1])
            assert view.target == second
            assert titles(app)[2] == ("Grad-CAM (True)" if second == int(cache.labels[i]) else "Grad-CAM (Top-2)")
            with_maps = {int(k) for k in cache.topk_classes[i]} | {int(cache.labels[i])}
            seen = {view.target}
            for _ in range(len(with_maps) - 1):
                await pilot.press("t")
                seen.add(view.target)
            assert seen == with_maps
            assert view.target == pred  # full circle

            await pilot.press("j", "j")
            assert view.current == 2 and view.query_one(ExampleStrip).current == 2
            await pilot.press("k", "left")
            assert view.current == 0
            await pilot.press("left")  # wraps to the last best example
            await settle(app, pilot)
            assert view.example.group == "best"
            assert titles(app) == ["Original", "Grad-CAM overlay", "Heatmap only"]

    asyncio.run(go())


def test_g_goes_to_the_confused_class_and_esc_returns(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await pilot.pause()
            view = app.query_one(ClassView)
            start = view.class_id
            i = view.example.index
            assert view.example.misclassified
            await pilot.press("g")
            await pilot.pause()
            assert view.class_id == int(small_run.cache.preds[i]) != start
            await pilot.press("escape")
            await pilot.pause()
            assert view.class_id == start and view.example.index == i
            await pilot.press("right_square_bracket")
            assert view.class_id == (start + 1) % small_run.cache.num_classes
            await pilot.press("left_square_bracket", "p")  # worst example of class 1: the top pair 1 -> 0
            await pilot.pause()
            assert app.active_view == "pairs" and app.query_one(PairsView).rank == 1

    asyncio.run(go())


def test_esc_walks_back_along_the_history_across_views(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2", "down", "down", "enter")
            await pilot.pause()
            view = app.query_one(ClassView)
            assert app.active_view == "class" and view.class_id == 2
            await pilot.press("right_square_bracket", "j")  # class 3, its second example
            await pilot.pause()
            assert view.class_id == 3 and view.current == 1
            await pilot.press("escape")  # back to class 2 (as it was: its first example)
            await pilot.pause()
            assert app.active_view == "class" and view.class_id == 2 and view.current == 0
            await pilot.press("escape")  # back to the Classes table, on the row it was on
            await pilot.pause()
            assert app.active_view == "classes" and app.query_one("ClassesView").highlighted_class() == 2
            await pilot.press("escape")  # the overview, where the session started
            await pilot.pause()
            assert app.active_view == "overview"
            await pilot.press("escape")  # nothing further back: it says so and stays
            await pilot.pause()
            assert app.active_view == "overview" and any("Nothing to go back to" in str(n.message)
                                                         for n in app._notifications)

    asyncio.run(go())


def test_p_on_a_correct_example_says_why(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3", "k", "p")  # the last best example: classified correctly
            await pilot.pause()
            assert app.active_view == "class"
            assert any("classified correctly" in str(n.message) for n in app._notifications)

    asyncio.run(go())
