"""Classes: the per-class table filtered as you type, sorted by any column, Enter opening a class."""

from __future__ import annotations

import asyncio

from engine.figures.numbers import pct
from tests.tui.helpers import SIZE, least_accurate
from tui.app import GradCamApp
from tui.views.class_view import ClassView
from tui.views.classes import ClassesView


def test_classes_filter_as_you_type_sort_and_open(small_run, tmp_path):
    n = small_run.cache.num_classes

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            view = app.query_one(ClassesView)
            table = view.table
            assert table.row_count == n
            await pilot.press("f", "o", "d")
            await pilot.pause()
            assert table.row_count == 1  # "odd/na me<b>" only
            await pilot.press("backspace", "backspace", "c", "l", "a", "s", "s", "_", "1")
            await pilot.pause()
            assert [str(table.get_row_at(r)[1]) for r in range(table.row_count)] == ["class_1"]
            assert "1 of 8 classes matching “class_1”" in str(app.query_one("#classes-status").render())
            await pilot.press("escape")  # clears the filter, back to the table
            await pilot.pause()
            assert table.row_count == n and table.has_focus
            for _ in range(3):  # id -> class -> superclass -> accuracy
                await pilot.press("s")
            await pilot.pause()
            assert str(table.get_row_at(0)[1]) == small_run.class_names[least_accurate(small_run)]
            assert "sorted by accuracy ↑" in str(app.query_one("#classes-status").render())
            await pilot.press("r")
            await pilot.pause()
            assert str(table.get_row_at(0)[3]) == pct(small_run.metrics.per_class["accuracy"].max())
            await pilot.press("s", "s", "s")  # errors -> wrong prediction -> back to id, still reversed
            await pilot.pause()
            assert str(table.get_row_at(0)[0]) == str(n - 1)
            await pilot.press("r")
            await pilot.pause()
            assert view.highlighted_class() == 1  # the cursor stays on its class through filters and sorts
            await pilot.press("down", "down", "enter")
            await pilot.pause()
            assert app.active_view == "class"
            assert app.query_one(ClassView).class_id == 3

    asyncio.run(go())


def test_clicking_a_header_sorts_by_that_column(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
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
            assert str(view.table.get_row_at(0)[3]) == pct(small_run.metrics.per_class["accuracy"].max())

    asyncio.run(go())
