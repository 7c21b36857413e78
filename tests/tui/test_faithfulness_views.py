"""The TUI's share of --faithfulness: the overview's checks line, the least-faithful slice, and the
faithfulness of each class and each confused pair (sortable least faithful first), on synthetic caches given
faithfulness members (and nothing new on a run without them)."""

from __future__ import annotations

import asyncio

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.faithfulness import least_faithful
from tests.synthetic import synthetic_cache
from tests.tui.helpers import SIZE, settle, table_rows, text_of
from tui.app import GradCamApp
from tui.model import all_pairs
from tui.slices import FAITHLESS, NAMED, NO_FAITHFULNESS, SliceSpec, named_slices, slice_of
from tui.views.classes import ClassesView
from tui.views.pairs import PairsView
from tui.views.overview import checks_line, summary_text


def _faithful_cache():
    c = synthetic_cache()
    n, steps = c.num_images, 4
    rng = np.random.default_rng(3)
    c.faith_deletion = np.full((n, steps + 1), np.nan, np.float32)
    c.faith_insertion = np.full((n, steps + 1), np.nan, np.float32)
    c.faith_masked = np.full(n, np.nan, np.float32)
    c.sanity_randomised_corr = np.full(n, np.nan, np.float32)
    sampled = np.arange(0, n, 3)
    c.faith_deletion[sampled] = rng.random((len(sampled), steps + 1))
    c.faith_insertion[sampled] = rng.random((len(sampled), steps + 1))
    c.faith_masked[sampled] = rng.random(len(sampled))
    c.sanity_randomised_corr[sampled] = 0.1 * rng.standard_normal(len(sampled))
    c.meta["model_randomisation"] = {"reinitialised": "layer3 and fc"}
    return c, sampled


def test_least_faithful_slice_lists_the_sample_lowest_gap_first(make_run):
    cache, sampled = _faithful_cache()
    run = make_run(cache)
    assert ("least faithful maps", SliceSpec(FAITHLESS)) in named_slices(run)
    s = slice_of(run, SliceSpec(FAITHLESS))
    assert sorted(s.images.tolist()) == sampled.tolist()
    gaps = s.extra[1]
    assert np.all(np.diff(gaps) >= 0)
    f = run.faithfulness
    np.testing.assert_allclose(gaps, f.gap[np.searchsorted(f.index, s.images)])


def test_overview_says_the_checks_only_for_runs_that_measured_them(make_run, small_run):
    cache, _ = _faithful_cache()
    run = make_run(cache)
    line = checks_line(run)
    assert "model randomisation PASSED" in line and "faithfulness on 32 images" in line
    assert "Checks" in summary_text(run).plain
    assert checks_line(small_run) == "" and "Checks" not in summary_text(small_run).plain
    assert named_slices(small_run) == NAMED
    assert "No faithfulness measured" in slice_of(small_run, SliceSpec(FAITHLESS)).empty


def test_overview_shows_its_checks_line_once_computed_after_the_first_screen(make_run, tmp_path):
    run = make_run(_faithful_cache()[0])

    async def go():
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            shown = text_of(app.query_one("#summary"))
            assert "Checks" in shown and "model randomisation PASSED" in shown and "computing" not in shown

    asyncio.run(go())


def _planted_pairs_cache():
    """Every image sampled; the second most frequent pair's errors have the least faithful maps."""
    c = synthetic_cache(n_per_class=40)
    cp = all_pairs(AnalysedRun(c))
    assert list(cp["count"][:2]) == [18, 5]
    n, steps = c.num_images, 4
    gap = np.full(n, 0.4)
    for rank, planted in ((1, 0.5), (2, -0.3)):
        gap[(c.labels == cp["true_id"][rank - 1]) & (c.preds == cp["pred_id"][rank - 1])] = planted
    c.faith_deletion = np.full((n, steps + 1), 0.3, np.float32)
    c.faith_insertion = (0.3 + gap[:, None] + np.zeros((1, steps + 1))).astype(np.float32)
    c.faith_masked = np.full(n, 0.3, np.float32)
    return c


def test_classes_view_sorts_by_least_faithful_with_intervals(make_run, small_run, tmp_path):
    run = make_run(_planted_pairs_cache())
    table = run.faithfulness_per_class
    worst = least_faithful(table)[0]

    async def go():
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            view = app.query_one(ClassesView)
            await pilot.press("l")
            await pilot.pause()
            first = [str(c) for c in view.table.get_row_at(0)]
            assert first[0] == str(worst)
            assert first[-1] == (f"{table['gap'][worst]:.2f} [{table['gap_low'][worst]:.2f},"
                                 f"{table['gap_high'][worst]:.2f}]")
            assert "sorted by faith gap [95%] ↑" in text_of(app.query_one("#classes-status"))
            await pilot.press("l")
            await pilot.pause()
            assert str(view.table.get_row_at(0)[0]) == "0"  # back to the id order
        plain = GradCamApp(small_run, out_dir=tmp_path)
        async with plain.run_test(size=SIZE) as pilot:
            await pilot.press("2", "l")
            await pilot.pause()
            view = plain.query_one(ClassesView)
            assert "faith gap [95%]" not in [str(c.label) for c in view.table.columns.values()]
            assert any(NO_FAITHFULNESS in str(n.message) for n in plain._notifications)

    asyncio.run(go())


def test_pairs_view_shows_each_pairs_faithfulness_and_sorts_least_faithful_first(make_run, tmp_path):
    run = make_run(_planted_pairs_cache())

    async def go():
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(app, pilot)
            view = app.query_one(PairsView)
            rows = table_rows(view.table)
            assert rows[0][-1].startswith("0.50 [0.50,0.50]") and rows[1][-1].startswith("-0.30 [")
            assert rows[2][-1].endswith(")")  # too few sampled errors to rank: the gap and how many
            assert "most frequent first" in text_of(view.query_one("#pairs-status"))
            await pilot.press("l")
            await settle(app, pilot)
            rows = table_rows(view.table)
            assert [r[0] for r in rows[:3]] == ["2", "1", "3"]
            assert view.rank == 1 and view.table.cursor == 1  # the pair on show stays, under the cursor
            assert "least faithful first: 2 pairs" in text_of(view.query_one("#pairs-status"))
            await pilot.press("up")
            await settle(app, pilot)
            assert view.rank == 2
            await pilot.press("l")
            await settle(app, pilot)
            assert table_rows(view.table)[0][0] == "1" and view.rank == 2 and view.table.cursor == 1

    asyncio.run(go())
