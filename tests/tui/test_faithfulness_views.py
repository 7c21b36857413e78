"""The TUI's share of --faithfulness: the overview's checks line and the least-faithful slice, on a
synthetic cache given faithfulness members (and nothing new on a run without them)."""

from __future__ import annotations

import numpy as np

from tests.synthetic import synthetic_cache
from tui.slices import FAITHLESS, NAMED, SliceSpec, named_slices, slice_of
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
