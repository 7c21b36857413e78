"""Pairs: the top confusions, the highlighted pair's images with both maps and their difference; a burst
of arrow keys ends on the last pair without leaving work behind."""

from __future__ import annotations

import asyncio

from textual import events

from engine.figures.examples import pair_examples
import numpy as np

from tests.tui.helpers import SIZE, settle, shown_panels, table_rows, text_of
from tui.app import GradCamApp
from tui.views.class_view import ClassView
from tui.views.pairs import PairsView


def test_pairs_view_lists_every_pair_and_shows_both_maps_and_their_difference(make_run, tmp_path):
    small_run = make_run(num_classes=20, n_per_class=20)
    cp = small_run.metrics.confused_pairs
    every = int((small_run.metrics.confusion > 0).sum() - (np.diag(small_run.metrics.confusion) > 0).sum())
    assert every > len(cp)  # more pairs than the reports' top 15

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(app, pilot)
            view = app.query_one(PairsView)
            assert view.rank == 1 and view.table.count == every
            rows = table_rows(view.table)
            assert [r[1:4] for r in rows[:len(cp)]] == [[cp["true_name"][k], cp["pred_name"][k], str(cp["count"][k])]
                                                      for k in range(len(cp))]  # the top pairs come first
            assert [int(r[3]) for r in rows] == sorted((int(r[3]) for r in rows), reverse=True)
            assert view.images == pair_examples(small_run.cache, int(cp["true_id"][0]), int(cp["pred_id"][0]))
            shown = shown_panels(app)  # 160 columns hold four 32x32 panels of five: v shows the fifth
            assert [t for t, _, _ in shown] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Why Pred, not True  v▸"]
            assert shown[1][1].startswith(cp["true_name"][0]) and shown[2][1].startswith(cp["pred_name"][0])
            assert shown[3][1] == f"{cp['pred_name'][0]}, not {cp['true_name'][0]}"
            await pilot.press("v")
            await settle(app, pilot)
            assert [t for t, _, _ in shown_panels(app)] == ["Pred − True  v▸"]
            await pilot.press("v")
            await settle(app, pilot)
            await pilot.press("j")
            await settle(app, pilot)
            assert view.current == 1
            assert "example 2/" in text_of(view.query_one("#pair-caption"))
            await pilot.press("down")
            await settle(app, pilot)
            assert view.rank == 2 and view.current == 0
            await pilot.press("g")
            await pilot.pause()
            assert app.active_view == "class"
            assert app.query_one(ClassView).class_id == int(cp["true_id"][1])
            await pilot.press("4", "G")
            await pilot.pause()
            assert app.query_one(ClassView).class_id == int(cp["pred_id"][1])

    asyncio.run(go())


def test_a_burst_of_arrow_keys_ends_on_the_last_pair_and_leaves_the_app_idle(small_run, tmp_path, monkeypatch):
    import tui.views.pairs

    built: list[tuple] = []
    real = tui.views.pairs.pair_example_panels

    def counted(cache, i, t, p):
        built.append((t, p))
        return real(cache, i, t, p)

    monkeypatch.setattr(tui.views.pairs, "pair_example_panels", counted)
    from tui.model import all_pairs

    cp = all_pairs(small_run)
    n = len(cp)
    assert n >= 8

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(app, pilot)
            view = app.query_one(PairsView)
            table = view.table
            built.clear()
            for _ in range(3):  # down to the bottom and back up again, as fast as keys come
                for key in ["down"] * (n + 2) + ["up"] * 4:  # as a terminal delivers them: no wait between
                    app.post_message(events.Key(key, None))
                await settle(app, pilot)
                await settle(app, pilot)
                assert table.cursor == n - 5 and view.rank == n - 4  # where the keys left the cursor
                assert not [w for w in app.workers if not w.is_finished]
            t, p = int(cp["true_id"][n - 5]), int(cp["pred_id"][n - 5])
            assert built[-1] == (t, p)  # the figure on show is the last pair's
            assert len(built) < 3 * (n + 6)  # stale highlights did no work
            assert shown_panels(app)[1][1].startswith(cp["true_name"][n - 5])

    asyncio.run(go())


def test_opening_a_pair_from_elsewhere_moves_the_cursor_to_it(small_run, tmp_path):
    from tui.messages import OpenPair

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            app.post_message(OpenPair(3))
            await settle(app, pilot)
            view = app.query_one(PairsView)
            assert app.active_view == "pairs" and view.rank == 3
            assert view.table.cursor == 2
            assert text_of(view.query_one("#pair-caption")).startswith("#3 ")

    asyncio.run(go())


def test_a_cache_without_contrastive_maps_shows_the_four_panels_it_always_had(make_cache, tmp_path):
    from engine.analysis.analysed_run import AnalysedRun

    async def go():
        app = GradCamApp(AnalysedRun(make_cache(contrast=False)), out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(app, pilot)
            assert [t for t, _, _ in shown_panels(app)] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)",
                                                            "Pred − True"]

    asyncio.run(go())
