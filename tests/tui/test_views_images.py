"""Images: every slice holds exactly the images its definition names (checked against the analyses and the
report files' own frames), listed whole and sortable, the panels following the cursor; Enter and g lead
on; `/` opens any slice, class or image from anywhere."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine.analysis.attention import BACKGROUND_FLAG
from engine.figures.examples import pair_examples
from tests.tui.helpers import SIZE, VIEW_KEYS, settle, shown_panels, table_rows, text_of
from tui.app import GradCamApp
from tui.messages import OpenConfusion, OpenSlice
from tui.screens.finder import candidates
from tui.slices import CELL, CLASS, CONFIDENT, ERRORS, FLAGS, IMAGE, PREDICTED, SUSPECTS, SliceSpec, check, \
    slice_of, sorted_order, sorts_of
from tui.views.class_view import ClassView
from tui.views.images import ImagesView
from tui.widgets.example_figure import ExampleFigure


def test_every_slice_holds_what_its_definition_names(small_run):
    from engine.reports.diagnosis import attention_flags_frame, high_confidence_errors_frame

    run, c = small_run, small_run.cache
    for k in range(c.num_classes):
        s = slice_of(run, SliceSpec(CLASS, k))
        assert sorted(s.images) == list(np.nonzero(c.labels == k)[0])  # every image, not the worst 5
        wrong = c.preds[s.images] != k
        assert not (np.diff(wrong.astype(int)) > 0).any()  # errors first
        assert sorted(slice_of(run, SliceSpec(PREDICTED, k)).images) == list(np.nonzero(c.preds == k)[0])
    t, p = int(run.metrics.confused_pairs["true_id"][0]), int(run.metrics.confused_pairs["pred_id"][0])
    assert list(slice_of(run, SliceSpec(CELL, t, p)).images) == pair_examples(c, t, p)
    errors = slice_of(run, SliceSpec(ERRORS))
    assert sorted(errors.images) == list(np.nonzero(c.labels != c.preds)[0])
    assert list(slice_of(run, SliceSpec(CONFIDENT)).images) == list(high_confidence_errors_frame(run)["image"])
    flags = slice_of(run, SliceSpec(FLAGS))
    assert list(flags.images) == list(attention_flags_frame(run)["image"])  # the CSV's images, in its order
    assert flags.extra[0] == "bg focus" and (flags.extra[1] > BACKGROUND_FLAG).any()
    sus = slice_of(run, SliceSpec(SUSPECTS))
    assert list(sus.images) == list(run.suspects["image"]) and list(sus.suggested) == list(run.suspects["suggested_id"])
    assert list(slice_of(run, SliceSpec(IMAGE, 5)).images) == [5]
    assert check(run, SliceSpec(IMAGE, c.num_images)) == f"No image #{c.num_images}: this test set has images 0 to " \
                                                        f"{c.num_images - 1}."
    assert check(run, SliceSpec(CLASS, -1)).startswith("No class -1")


def test_sorting_a_slice_orders_it_by_the_key_and_keeps_ties_in_slice_order(small_run):
    s = slice_of(small_run, SliceSpec(ERRORS))
    conf = small_run.cache.confidence
    by_name = {sort.name: sort for sort in sorts_of(s)}
    order = sorted_order(small_run, s, by_name["confidence"], reverse=False)
    assert list(conf[s.images[order]]) == sorted(conf[s.images], reverse=True)
    order = sorted_order(small_run, s, by_name["image id"], reverse=True)
    assert list(s.images[order]) == sorted(s.images, reverse=True)


def test_a_class_slice_lists_every_image_and_the_panels_follow_the_cursor(small_run, tmp_path):
    c = small_run.cache
    k = 1
    members = np.nonzero(c.labels == k)[0]

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            app.post_message(OpenSlice(SliceSpec(CLASS, k)))
            await settle(app, pilot)
            view = app.query_one("#images-view", ImagesView)
            assert app.active_view == "images" and view.table.count == len(members) > 8
            rows = table_rows(view.table)
            assert sorted(int(r[0]) for r in rows) == list(members)
            assert f"Class {k} {small_run.class_names[k]}: {len(members)} images" in text_of(view.query_one("#images-title"))
            seen = []
            for _ in range(3):
                seen.append(view.image)
                caption = text_of(view.query_one("#images-caption"))
                assert caption.startswith(f"image #{view.image} ")
                assert shown_panels(app)[0][2].panel.rgb is not None
                assert np.array_equal(shown_panels(app)[0][2].panel.rgb, c.images[view.image])
                await pilot.press("j")
                await settle(app, pilot)
            assert seen == [int(r[0]) for r in rows[:3]]
            here = view.image
            await pilot.press("s")  # by confidence, most confident first
            await settle(app, pilot)
            assert [int(r[0]) for r in table_rows(view.table)] == sorted(
                members, key=lambda i: (-c.confidence[i], list(view.slice.images).index(i)))
            assert view.image == here  # the cursor stays on its image
            assert "confidence ↑" in text_of(view.query_one("#images-status"))

    asyncio.run(go())


def test_enter_opens_the_images_like_this_one_and_g_its_class(small_run, tmp_path):
    c = small_run.cache

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("8")  # all errors
            await settle(app, pilot)
            view = app.query_one("#images-view", ImagesView)
            i = view.image
            t, p = int(c.labels[i]), int(c.preds[i])
            await pilot.press("enter")
            await settle(app, pilot)
            assert view.spec == SliceSpec(CELL, t, p) and view.image == i
            assert list(view.slice.images) == pair_examples(c, t, p)
            titles = [panel.title for panel in view.query_one(ExampleFigure).panels]  # every page of them
            assert titles == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Why Pred, not True", "Pred − True"]
            await pilot.press("enter")  # from the cell's own list: its class
            await settle(app, pilot)
            assert app.active_view == "class" and app.query_one(ClassView).class_id == t
            await pilot.press("escape", "escape")  # back along the history: the cell, then all errors
            await settle(app, pilot)
            assert app.active_view == "images" and view.spec == SliceSpec(ERRORS) and view.image == i
            await pilot.press("g")
            await settle(app, pilot)
            assert app.active_view == "class" and app.query_one(ClassView).class_id == t

    asyncio.run(go())


def test_slash_opens_a_class_by_name_from_every_view(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            for key in VIEW_KEYS[:-1]:  # every view of a one-run session
                await pilot.press(key)
                await settle(app, pilot)
                await pilot.press("slash", *"class_4", "enter")
                await settle(app, pilot)
                assert app.active_view == "class" and app.query_one(ClassView).class_id == 4, key

    asyncio.run(go())


@pytest.mark.parametrize("typed, expect", [
    ("#7", OpenSlice(SliceSpec(IMAGE, 7))),
    ("7", OpenSlice(SliceSpec(IMAGE, 7))),
    ("class_1 > class_0", OpenSlice(SliceSpec(CELL, 1, 0))),
    ("suspects", OpenSlice(SliceSpec(SUSPECTS))),
    ("confidence", OpenSlice(SliceSpec(CONFIDENT))),
    ("group_b", OpenConfusion(4, 4, zoom=True)),
    ("confusion", OpenConfusion()),
    ("[/]", None),
])
def test_what_the_finder_offers_for_what_is_typed(small_run, typed, expect):
    found = candidates(small_run, typed)
    if expect is None:  # nothing is named so
        assert found == []
    else:
        assert found and found[0][1] == expect, found


def test_the_finder_opens_an_image_by_id_and_says_when_there_is_none(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("slash", *"#99999", "enter")  # no such image: nothing opens, the finder stays
            await pilot.pause()
            assert type(app.screen).__name__ == "FinderScreen"
            field = app.screen.query_one("#finder-input")
            assert field.content_size.height == 1 and field.value == "#99999"  # the typed line has room on screen
            await pilot.press("escape", "slash", "#", "7", "enter")
            await settle(app, pilot)
            view = app.query_one("#images-view", ImagesView)
            assert app.active_view == "images" and view.spec == SliceSpec(IMAGE, 7) and view.image == 7

    asyncio.run(go())
