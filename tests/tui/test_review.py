"""The label review: one key per verdict with the suggested label shown, progress, the verdicts saved beside
the cache as they are given, a next launch resuming where the review stopped, a save that fails (a full
disk mid-session) costing nothing already saved, a damaged reviews file left alone, and the CSV export."""

from __future__ import annotations

import asyncio
import csv
import errno
import os

from engine.store import save_cache
from engine.store.reviews import reviews_path
from tests.tui.helpers import SIZE, settle, table_rows, text_of
from tui.app import GradCamApp
from tui.views.suspects import SuspectsView


def launch(run, cache_file, tmp_path):
    return GradCamApp(run, out_dir=tmp_path / "out", cache_path=cache_file)


def test_a_review_survives_a_restart_and_resumes_at_the_first_image_left(small_run, small_cache, tmp_path):
    cache_file = save_cache(small_cache, tmp_path / "cache.npz")
    sus = small_run.suspects
    names = small_run.class_names
    first = [int(i) for i in sus["image"][:3]]

    async def review():
        app = launch(small_run, cache_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            view = app.query_one(SuspectsView)
            assert view.image == first[0]
            await pilot.press("x")  # label wrong: the suggested label, then on to the next image
            await settle(app, pilot)
            assert view.image == first[1]
            await pilot.press("l")  # another suggestion (the model's top-k) ...
            chosen = view.suggestion
            await pilot.press("x", "c")  # ... taken; the third image's label is right
            await settle(app, pilot)
            assert "3 reviewed (✗2 ✓1)" in text_of(view.query_one("#images-status"))
            rows = table_rows(view.table)
            assert rows[0][-1] == f"✗ {sus['suggested'][0]}" and rows[1][-1] == f"✗ {names[chosen]}"
            assert rows[2][-1] == "✓"
            await pilot.press("a")  # the fourth: ambiguous
            await pilot.press("up", "u")  # and cleared again
            await settle(app, pilot)
            return chosen

    chosen = asyncio.run(review())
    assert reviews_path(cache_file).exists()

    async def resume():
        app = launch(small_run, cache_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            view = app.query_one(SuspectsView)
            assert view.image == int(sus["image"][3])  # the first suspect without a verdict
            assert "3 reviewed (✗2 ✓1)" in text_of(view.query_one("#images-status"))
            await pilot.press("E")
            await settle(app, pilot)
            return app.written

    written = asyncio.run(resume())
    assert [p.name for p in written] == ["label_reviews.csv"]
    with open(written[0], encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(int(r["image"]), r["verdict"]) for r in rows] == sorted(zip(first, ["wrong", "wrong", "right"]))
    by_image = {int(r["image"]): r for r in rows}
    assert by_image[first[0]]["label_to_use"] == sus["suggested"][0]
    assert by_image[first[1]]["label_to_use"] == names[chosen]
    assert by_image[first[2]]["label_to_use"] == names[int(small_cache.labels[first[2]])]


def test_a_save_that_fails_keeps_what_was_saved_and_says_so(small_run, small_cache, tmp_path, monkeypatch):
    cache_file = save_cache(small_cache, tmp_path / "cache.npz")
    path = reviews_path(cache_file)
    real = os.replace
    calls = []

    def full_disk(src, dst):
        calls.append(dst)
        if len(calls) > 1:  # the second save: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr("engine.store.atomic.os.replace", full_disk)

    async def go():
        app = launch(small_run, cache_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            await pilot.press("c")
            await settle(app, pilot)
            saved = path.read_bytes()
            await pilot.press("c")
            await settle(app, pilot)
            assert path.read_bytes() == saved  # the first verdict, whole
            assert any("No space left on device" in str(n.message) and n.severity == "error"
                       for n in app._notifications)
            assert "not saved" in text_of(app.query_one(SuspectsView).query_one("#images-status"))
            assert app.is_running

    asyncio.run(go())
    monkeypatch.setattr("engine.store.atomic.os.replace", real)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    async def resume():
        app = launch(small_run, cache_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            view = app.query_one(SuspectsView)
            assert "1 reviewed (✓1)" in text_of(view.query_one("#images-status"))
            assert view.image == int(small_run.suspects["image"][1])

    asyncio.run(resume())


def test_a_damaged_reviews_file_is_left_alone(small_run, small_cache, tmp_path):
    cache_file = save_cache(small_cache, tmp_path / "cache.npz")
    path = reviews_path(cache_file)
    path.write_text("{ not what we wrote")

    async def go():
        app = launch(small_run, cache_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(app, pilot)
            await pilot.press("c", "x")
            await settle(app, pilot)
            assert any("cannot be read" in str(n.message) for n in app._notifications)
            view = app.query_one(SuspectsView)
            assert "2 reviewed" in text_of(view.query_one("#images-status"))  # kept for the session

    asyncio.run(go())
    assert path.read_text() == "{ not what we wrote"
