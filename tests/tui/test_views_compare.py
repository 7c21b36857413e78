"""Compare (gradcam-tui OLD NEW): the per-class deltas of engine.analysis.compare, sortable, Enter opening
the class in the new run; a comparison that fails later says why in the tab."""

from __future__ import annotations

import asyncio
import dataclasses

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.compare import compare
from engine.figures.numbers import pct
from tests.tui.helpers import SIZE, settle, text_of
from tui.app import GradCamApp
from tui.views.class_view import ClassView
from tui.views.compare import CompareView


def test_compare_tab_lists_the_per_class_deltas_and_enter_opens_the_class(small_run, later_run, tmp_path):
    expected = compare(small_run, later_run)

    async def go():
        app = GradCamApp(later_run, out_dir=tmp_path, old_run=small_run)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("9")
            await settle(app, pilot)
            assert app.active_view == "compare"
            view = app.query_one(CompareView)
            table = view.table
            assert app.focused is table
            pc = expected.per_class.frame.sort_values(["delta", "class_id"], kind="mergesort")
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
            assert app.query_one(ClassView).run is later_run

    asyncio.run(go())


def test_compare_view_says_why_when_compare_fails_later(small_cache, tmp_path):
    other_pixels = dataclasses.replace(small_cache, images=small_cache.images[::-1].copy())

    async def go():
        app = GradCamApp(AnalysedRun(small_cache), out_dir=tmp_path, old_run=AnalysedRun(other_pixels))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("9")
            await settle(app, pilot)
            assert "different images" in text_of(app.query_one("#compare-status"))
            assert not app.query_one(CompareView).table.display

    asyncio.run(go())


def test_the_runs_are_named_by_their_paths(small_run, later_run, tmp_path):
    async def go():
        app = GradCamApp(later_run, out_dir=tmp_path, cache_path=tmp_path / "new.npz", old_run=small_run,
                         old_path=tmp_path / "old.npz")
        async with app.run_test(size=SIZE) as pilot:
            assert app.sub_title == f"{tmp_path / 'old.npz'} → {tmp_path / 'new.npz'}"
            await pilot.press("9")
            await settle(app, pilot)
            assert text_of(app.query_one("#compare-status")) == f"{tmp_path / 'old.npz'} → {tmp_path / 'new.npz'}"

    asyncio.run(go())
