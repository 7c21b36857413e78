"""Label suspects: the run's suspects as a slice, found in a thread on first view; the panels follow the
cursor with the Grad-CAMs of the given and of the suggested label."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.cam_maps import display_cam
from engine.figures.colours import overlay_rgb
from engine.figures.numbers import pct
from tests.tui.helpers import SIZE, settle, shown_panels, table_rows, text_of
from tui.app import GradCamApp
from tui.views.suspects import SuspectsView


def test_suspects_view_lists_the_suspects_and_the_cursor_shows_both_maps(small_run, tmp_path):
    sus = small_run.suspects
    cache, names = small_run.cache, small_run.class_names
    assert len(sus) >= 2

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            view = app.query_one("#suspects-view", SuspectsView)
            table = view.table
            assert app.focused is table and table.count == len(sus)
            rows = table_rows(table)
            for k in range(len(sus)):  # in the suspects' order, with the margin
                i = int(sus["image"][k])
                assert rows[k][:5] == [str(i), sus["given"][k], names[int(cache.preds[i])],
                                       pct(float(cache.confidence[i])), f"{sus['margin'][k]:.2f}"]
            assert "Label suspects:" in text_of(view.query_one("#images-title"))
            await pilot.press("down")  # no Enter needed: the panels follow the cursor
            await settle(app, pilot)
            i = int(sus["image"][1])
            assert view.image == i
            assert f"suggested label: {sus['suggested'][1]}" in text_of(view.query_one("#images-caption"))
            shown = shown_panels(app)
            assert [t for t, _, _ in shown[:2]] == ["Original", "Grad-CAM (given)"]
            cam = display_cam(cache.cam_for(i, int(sus["given_id"][1])), cache.images.shape[1:3])
            assert np.array_equal(shown[1][2].panel.rgb, overlay_rgb(cache.images[i], cam))
            if cache.cam_for(i, int(sus["suggested_id"][1])) is not None:
                assert shown[2][0] == "Grad-CAM (suggested)" and sus["suggested"][1] in shown[2][1]

    asyncio.run(go())


def test_suspects_view_without_a_map_of_the_suggested_class_draws_the_given_one(small_cache, tmp_path):
    sus = AnalysedRun(small_cache).suspects
    i, sug = int(sus["image"][0]), int(sus["suggested_id"][0])
    topk = small_cache.topk_classes.copy()
    # keep the given label's map (cam_true), drop the suggested class from this image's stored top-k
    others = [c for c in range(small_cache.num_classes) if c != sug]
    topk[i] = others[: topk.shape[1]]
    cache = dataclasses.replace(small_cache, topk_classes=topk)
    assert cache.cam_for(i, sug) is None

    async def go():
        app = GradCamApp(AnalysedRun(cache), out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            assert app.query_one(SuspectsView).image == i
            assert [t for t, _, _ in shown_panels(app)] == ["Original", "Grad-CAM (given)"]

    asyncio.run(go())


def test_suspects_are_found_once_and_only_when_asked(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert "suspects" not in small_run.__dict__  # nothing computed before the tab is shown
            for key in "616":
                await pilot.press(key)
                await settle(app, pilot)
            view = app.query_one(SuspectsView)
            assert np.array_equal(view.slice.images, small_run.suspects["image"])
            assert view.table.count == len(small_run.suspects)

    asyncio.run(go())
