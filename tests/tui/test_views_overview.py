"""Overview: the run's figures, as engine.analysis computes them."""

from __future__ import annotations

import asyncio

from engine.figures.numbers import pct
from tests.tui.helpers import SIZE, least_accurate, text_of
from tui.app import GradCamApp


def test_overview_shows_the_run(small_run, tmp_path):
    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.active_view == "overview"
            summary = text_of(app.query_one("#summary"))
            m = small_run.metrics
            assert f"Top-1  {pct(m.top1)} ({m.num_correct}/{m.num_images} correct)" in summary
            assert pct(m.top5) in summary and "synthetic" in summary
            boxes = " ".join(text_of(w) for w in app.query("#overview-grid Static, #overview-grid LinkList"))
            assert small_run.class_names[least_accurate(small_run)] in boxes
            cp = m.confused_pairs
            assert f"{cp['true_name'][0]} → {cp['pred_name'][0]}" in boxes
            assert "90-100%" in boxes  # the accuracy histogram
            assert "group_a" in boxes  # superclasses

    asyncio.run(go())


def test_long_names_keep_one_line_per_row_and_the_boxes_fall_to_one_column(small_cache, tmp_path):
    """Each row is one screen line (the cursor is the row); two columns of boxes only where the rows fit."""
    import dataclasses

    from engine.analysis.analysed_run import AnalysedRun

    long_names = [f"a_rather_long_class_name_number_{k}" for k in range(small_cache.num_classes)]
    run = AnalysedRun(dataclasses.replace(small_cache, class_names=long_names))

    async def go(width: int) -> tuple[int, list[tuple[int, int]]]:
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=(width, 40)) as pilot:
            await pilot.pause()
            grid = app.query_one("#overview-grid")
            lists = list(app.query("#overview-grid LinkList"))
            return grid.styles.grid_size_columns, [(w.size.height, len(w.lines) + (w.header is not None))
                                                   for w in lists]

    columns, heights = asyncio.run(go(120))
    assert columns == 1 and all(height == rows for height, rows in heights), heights
    wide_columns, _ = asyncio.run(go(240))
    assert wide_columns == 2
