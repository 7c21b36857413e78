"""AnalysedRun (engine.analysis.analysed_run): a cache with its analyses, each computed once, on first use;
open_run reads the run a path means."""

from __future__ import annotations

import numpy as np

import engine.analysis.calibration as calibration_mod
from engine.analysis.analysed_run import AnalysedRun, logits_of, open_run
from engine.store import save_cache

ANALYSES = ("metrics", "selections", "calibration", "attention", "attention_ranking", "attention_per_class",
            "attention_per_pair", "map_agreement", "sanity", "suspects", "suspect_precision", "coarse_confusion",
            "findings")


def test_each_analysis_is_computed_once_on_first_use(small_cache, monkeypatch):
    calls = []
    real = calibration_mod.calibrate
    monkeypatch.setattr(calibration_mod, "calibrate", lambda *a: calls.append(1) or real(*a))
    run = AnalysedRun(small_cache)
    assert not any(name in vars(run) for name in ANALYSES)  # nothing before it is asked for
    assert run.calibration is run.calibration and calls == [1]
    run.metrics
    assert set(vars(run)) & set(ANALYSES) == {"calibration", "metrics"}
    assert run.compute_all() is run and set(ANALYSES) <= set(vars(run)) and calls == [1]


def test_the_analyses_are_of_the_cache(small_run):
    c = small_run.cache
    assert small_run.class_names == c.class_names
    assert small_run.metrics.num_images == c.num_images
    np.testing.assert_array_equal(small_run.correct, c.labels == c.preds)
    assert small_run.coarse_confusion.sum() == c.num_images and small_run.coarse_confusion.shape == (2, 2)
    assert len(small_run.attention_per_class) == c.num_classes
    assert len(small_run.attention_per_pair) == len(small_run.metrics.confused_pairs)


def test_without_logits_calibration_uses_log_probabilities(small_cache):
    import dataclasses

    no_logits = dataclasses.replace(small_cache, logits=None)
    np.testing.assert_allclose(np.exp(logits_of(no_logits)), small_cache.probs, rtol=1e-5)
    a, b = AnalysedRun(no_logits).calibration, AnalysedRun(small_cache).calibration
    assert abs(a.ece - b.ece) < 1e-6  # softmax of log-probabilities is the probabilities


def test_open_run_reads_the_cache_a_path_means(tmp_path, small_cache):
    save_cache(small_cache, tmp_path / "out" / "cache")
    run = open_run(tmp_path / "out")
    assert run.cache.num_images == small_cache.num_images and run.metrics.top1 == AnalysedRun(small_cache).metrics.top1
