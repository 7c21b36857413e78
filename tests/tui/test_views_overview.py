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
