"""Every claim against its baseline (engine.analysis.stats, map_agreement, sanity, attention_ranking,
suspect_precision): a claim equal to its baseline is not made, class-blind maps fail the sanity check, a
ranking needs a count and a margin, and the label-suspect precision is low on clean labels and rises with
wrong ones."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.attention import Attention
from engine.analysis.attention_ranking import MIN_INVOLVED, rank
from engine.analysis.calibration import softmax
from engine.analysis.recommendations import find
from engine.analysis.recommendations.base import beats
from engine.analysis.sanity import rank_correlation
from engine.analysis.stats import Estimate, estimate
from engine.analysis.suspect_precision import estimate_precision
from engine.reports.recommendations import recommendations_text
from tests.synthetic import synthetic_cache


def keys(cache) -> set[str]:
    return {f.key for f in find(AnalysedRun(cache))}


def test_a_statistic_equal_to_its_baseline_is_not_advised_on():
    same = estimate(np.r_[np.ones(40), np.zeros(60)])
    assert same.low < same.value < same.high and not beats(same, same)
    assert beats(estimate(np.ones(50)), estimate(np.zeros(50)))
    assert not beats(estimate(np.ones(50)), Estimate(float("nan"), float("nan"), float("nan"), 0))  # no baseline

    cache = synthetic_cache(n_per_class=30, seed=1)
    wrong = cache.labels != cache.preds
    cam_topk, cam_true = cache.cam_topk.copy(), cache.cam_true.copy()
    cam_true[wrong] = cam_topk[wrong, 0]  # every error: true- and predicted-class maps identical ...
    equal = replace(cache, cam_true=cam_true)
    cam_topk[~wrong, 1] = cam_topk[~wrong, 0]  # ... and so are the top-1 and top-2 maps of every correct answer
    equal = replace(equal, cam_topk=cam_topk)
    run = AnalysedRun(equal)
    assert run.map_agreement.same_errors.value == run.map_agreement.same_baseline.value == 1.0
    assert run.sanity.depends_on_class  # the lowest-ranked stored maps still differ: the maps are checked
    assert "same_region" not in keys(equal)
    assert "it does not beat its baseline" in " ".join(recommendations_text(run).split())
    # the same errors against a baseline that is lower: now the claim is made
    assert "same_region" in keys(replace(cache, cam_true=cam_true))


def test_rank_correlation_is_spearmans():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (30, 4, 4)).astype(np.float32)  # many ties, like ReLU'd maps
    b = rng.random((30, 4, 4)).astype(np.float32)
    ours = rank_correlation(a, b)
    ref = [stats.spearmanr(a[i].ravel(), b[i].ravel())[0] for i in range(30)]
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    assert rank_correlation(a, a) == pytest.approx(np.ones(30))
    assert rank_correlation(np.zeros((1, 4, 4)), b[:1])[0] == 0.0  # a flat map ranks nothing


def test_class_blind_maps_fail_the_sanity_check_and_withhold_grad_cam_advice():
    cache = synthetic_cache(n_per_class=30, seed=1)
    wrong = cache.labels != cache.preds
    cam_topk = cache.cam_topk.copy()
    cam_topk[~wrong, 0] = cache.cam_true[~wrong]
    corner = np.zeros((8, 8), np.float32)
    corner[6:, 6:] = 1.0
    cam_topk[wrong, 0] = corner  # background on errors, object when right: advised on ...
    checked = replace(cache, cam_topk=cam_topk)
    assert AnalysedRun(checked).sanity.depends_on_class and "background" in keys(checked)
    blind = replace(cache, cam_topk=np.repeat(cam_topk[:, :1], cam_topk.shape[1], axis=1),
                    cam_true=cam_topk[:, 0].copy())  # ... unless every class gets the same map
    run = AnalysedRun(blind)
    assert run.sanity.lowest.value == pytest.approx(1.0) and not run.sanity.depends_on_class
    assert not {"background", "same_region", "other_region"} & keys(blind)
    assert "Random-logit sanity check: FAILED" in recommendations_text(run)


def _attention(bg_true: np.ndarray, bg_pred: np.ndarray) -> Attention:
    n = len(bg_true)
    return Attention(bg_pred, bg_true, np.zeros(n), np.ones(n), True)


def test_attention_ranking_needs_a_count_and_a_clear_margin():
    rng = np.random.default_rng(0)
    c, n = 6, 600
    labels = rng.integers(0, c, n)
    preds = np.where(rng.random(n) < 0.5, (labels + 1) % c, labels)  # half wrong
    noise_true, noise_pred = rng.random(n) * 0.6, rng.random(n) * 0.6  # ~1 in 6 above the 0.5 flag
    # noise alone: no class stands out
    assert rank(_attention(noise_true, noise_pred), labels, preds, c).order == ()
    # class 2's own map on the background whenever it is part of an error: ranked first, alone
    bg_true, bg_pred = noise_true.copy(), noise_pred.copy()
    bg_true[labels == 2] = 0.9
    bg_pred[preds == 2] = 0.9
    r = rank(_attention(bg_true, bg_pred), labels, preds, c)
    assert r.order == (2,) and r.rank_of(2) == 1 and r.rank_of(0) == 0
    assert r.share[2].value == 1.0 and r.share[2].low > r.baseline.high
    # the same pattern on fewer than MIN_INVOLVED errors is listed but not ranked
    few = np.nonzero((labels == 2) & (labels != preds))[0][MIN_INVOLVED // 2 :]
    labels2, preds2 = labels.copy(), preds.copy()
    preds2[few] = labels2[few]  # those errors become right answers
    preds2[(preds2 == 2) & (labels2 != 2)] = 3
    r2 = rank(_attention(bg_true, bg_pred), labels2, preds2, c)
    assert r2.share[2].n < MIN_INVOLVED and 2 not in r2.order


def _calibrated(n: int = 4000, c: int = 10, seed: int = 0):
    """Logits of a model that is right about its own uncertainty: labels drawn from its softmax are clean."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), rng.integers(0, c, n)] += rng.uniform(2, 9, n)
    probs = softmax(logits)
    labels = (probs.cumsum(1) < rng.random(n)[:, None]).sum(1).clip(0, c - 1)
    return logits, probs, labels, [f"c{k}" for k in range(c)]


def test_suspect_precision_is_low_on_clean_labels_and_rises_with_wrong_ones():
    logits, probs, labels, names = _calibrated()
    clean = estimate_precision(probs, logits, labels, names, draws=30)
    assert clean.strong.observed > 0 and not clean.strong.beats_null  # the model flags its own mistakes ...
    assert clean.strong.precision_low == 0.0 and clean.strong.precision < 0.25  # ... and they are not counted
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(labels), 200, replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, 10, 200)) % 10
    p = estimate_precision(probs, logits, noisy, names, draws=30)
    assert p.strong.beats_null and p.strong.precision_low > 0.2
    assert 0.4 * 200 <= p.strong.excess <= 1.2 * 200  # many injected errors found, not many more
