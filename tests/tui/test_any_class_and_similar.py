"""Any class's Grad-CAM (T steps through every class, m takes a typed class name) drawn from the stored
members, and said to be unavailable where the cache cannot give it; n lists the images most like the one
on screen, and `/` near-duplicates the look-alike pairs."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.any_class_maps import cam_of
from engine.analysis.cam_maps import display_cam
from engine.analysis.similar_images import nearest
from engine.figures.colours import overlay_rgb
from tests.synthetic import with_any_class
from tests.tui.helpers import SIZE, settle, shown_panels, table_rows, text_of
from tui.app import GradCamApp
from tui.messages import OpenSlice
from tui.screens.class_prompt import ClassPrompt
from tui.screens.finder import candidates
from tui.slices import CLASS, DUPLICATES, NO_FEATURES, SIMILAR, SliceSpec, check, slice_of
from tui.views.class_view import ClassView
from tui.views.images import ImagesView


@pytest.fixture(params=["activations", "maps"])
def any_run(small_cache, request) -> AnalysedRun:
    return AnalysedRun(with_any_class(small_cache, request.param))


def _drawn_target_map(app, cache, i, target) -> bool:
    """Whether the target's overlay on screen is the map cam_of gives for it."""
    cam = display_cam(cam_of(cache, i, target), cache.images.shape[1:3])
    return any(np.array_equal(w.panel.rgb, overlay_rgb(cache.images[i], cam)) for _, _, w in shown_panels(app))


def test_T_steps_through_every_class_and_draws_its_map(any_run, tmp_path):
    cache = any_run.cache

    async def go():
        app = GradCamApp(any_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            view = app.query_one(ClassView)
            i, start = view.example.index, view.target
            seen = []
            for _ in range(cache.num_classes):
                await pilot.press("T")
                await settle(app, pilot)
                seen.append(view.target)
                assert _drawn_target_map(app, cache, i, view.target)
            assert seen == [(start + k) % cache.num_classes for k in range(1, cache.num_classes + 1)]
            outside = [c for c in range(cache.num_classes) if cache.cam_for(i, c) is None]
            assert outside  # classes the pass stored no map of are drawn too
            while view.target != outside[0]:
                await pilot.press("T")
            await settle(app, pilot)
            assert "(Other)" in text_of(view.query_one("#example-caption"))
            assert _drawn_target_map(app, cache, i, outside[0])

    asyncio.run(go())


def test_m_takes_a_typed_class_name_by_prefix(any_run, tmp_path):
    cache = any_run.cache

    async def go():
        app = GradCamApp(any_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            app.post_message(OpenSlice(SliceSpec(CLASS, 2)))
            await settle(app, pilot)
            view = app.query_one("#images-view", ImagesView)
            i = view.image
            await pilot.press("m")
            await pilot.pause()
            assert isinstance(app.screen, ClassPrompt)
            assert app.screen.found == list(range(cache.num_classes))  # nothing typed: every class
            await pilot.press(*"odd")  # "odd/na me<b>": class 3, by the start of its name
            await pilot.pause()
            assert app.screen.found == [3]
            assert app.screen.query_one("#class-prompt-input").content_size.height == 1  # the typed line shows
            await pilot.press("enter")
            await settle(app, pilot)
            assert not isinstance(app.screen, ClassPrompt) and view.target == 3
            assert "target: odd/na me<b>" in text_of(view.query_one("#images-caption"))
            assert _drawn_target_map(app, cache, i, 3)
            await pilot.press("m", *"class_", "down", "enter")  # the prefix matches several: the second
            await settle(app, pilot)
            assert view.target == 1
            await pilot.press("m", *"class_7", "escape")  # Esc: nothing changes
            await settle(app, pilot)
            assert view.target == 1 and not isinstance(app.screen, ClassPrompt)

    asyncio.run(go())


@pytest.mark.parametrize("path", ["autograd", "old"])
def test_a_class_outside_the_stored_ones_is_said_to_be_unavailable(small_cache, tmp_path, path):
    meta = {**small_cache.meta, "cam_path": "autograd"} if path == "autograd" else small_cache.meta
    run = AnalysedRun(dataclasses.replace(small_cache, meta=meta))

    async def go():
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            view = app.query_one(ClassView)
            i, before = view.example.index, view.target
            await pilot.press("T")
            outside = next(c for c in range(run.cache.num_classes) if run.cache.cam_for(i, c) is None)
            await pilot.press("m", *run.class_names[outside], "enter")
            await settle(app, pilot)
            assert view.target == before
            said = [str(n.message) for n in app._notifications if n.severity == "warning"]
            assert len(said) == 2 and all("map of another class is not available" in s for s in said)
            if path == "autograd":
                assert "for this model's path (autograd)" in said[0]
            stored = int(run.cache.topk_classes[i, 2])  # a stored class can still be chosen by name
            await pilot.press("m", *run.class_names[stored], "enter")
            await settle(app, pilot)
            assert view.target == stored

    asyncio.run(go())


def test_n_lists_the_nearest_images_with_labels_and_predictions(any_run, tmp_path):
    c, names = any_run.cache, any_run.class_names

    async def go():
        app = GradCamApp(any_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            i = app.query_one(ClassView).example.index
            await pilot.press("n")
            await settle(app, pilot)
            view = app.query_one("#images-view", ImagesView)
            assert app.active_view == "images" and view.spec == SliceSpec(SIMILAR, i)
            want, cos = nearest(any_run.unit_features, i, 20)
            rows = table_rows(view.table)
            assert [int(r[0]) for r in rows] == [i, *want] and len(rows) == 21
            for r in rows:
                k = int(r[0])
                assert (r[1], r[2]) == (names[int(c.labels[k])], names[int(c.preds[k])])
            assert [float(r[4]) for r in rows[1:]] == pytest.approx(list(cos), abs=0.006)
            assert text_of(view.query_one("#images-title")).startswith(f"Similar to image #{i} ")
            await pilot.press("down", "n")  # from the images list too, for the image under the cursor
            await settle(app, pilot)
            assert view.spec == SliceSpec(SIMILAR, int(want[0]))
            await pilot.press("escape")
            await settle(app, pilot)
            assert view.spec == SliceSpec(SIMILAR, i)

    asyncio.run(go())


def test_the_near_duplicates_slice_is_reachable_from_slash(any_run, small_run, tmp_path):
    labels = [label for label, _ in candidates(any_run, "near")]
    assert "near-duplicates" in labels
    assert "near-duplicates" not in [label for label, _ in candidates(small_run, "near")]  # no features: not offered
    assert check(small_run, SliceSpec(DUPLICATES)) == NO_FEATURES == check(small_run, SliceSpec(SIMILAR, 0))

    async def go():
        app = GradCamApp(any_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("slash", *"near-dup", "enter")
            await settle(app, pilot)
            view = app.query_one("#images-view", ImagesView)
            assert app.active_view == "images" and view.spec == SliceSpec(DUPLICATES)
            rows = table_rows(view.table)
            assert [int(r[0]) for r in rows[:2]] == [3, 50]  # the planted copy, closest first
            assert float(rows[0][4]) == pytest.approx(1.0, abs=0.006)
            assert "Near-duplicates: 1 pair" in text_of(view.query_one("#images-title"))
            assert list(slice_of(any_run, SliceSpec(DUPLICATES)).images) == [3, 50]

    asyncio.run(go())


def test_the_key_list_names_any_class_and_similar_images(small_run, tmp_path):
    from tui.keys import keymap
    from tui.views import registered

    rows = keymap(registered(GradCamApp(small_run, out_dir=tmp_path).runs))
    keys = {(where, k): what for where, k, what in rows}
    for where in ("Class", "Images"):
        assert "any class's Grad-CAM" in next(v for (w, k), v in keys.items() if where in w and k == "T  m")
        assert "most similar" in next(v for (w, k), v in keys.items() if where in w and k == "n")
