"""Recommendations: the rules (engine.analysis.recommendations, numbers only) and their wording
(engine.reports.recommendations): evidence from this run's numbers, ranked by the share of errors, silent
without evidence."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.attention import BACKGROUND_FLAG
from engine.analysis.calibration import HIGH_CONFIDENCE
from engine.analysis.recommendations import REGISTRY, find
from engine.analysis.recommendations.base import Finding
from engine.reports.recommendations import (
    WORDING,
    Recommendation,
    md_escape,
    recommendations,
    recommendations_markdown,
    recommendations_text,
)
from tests.synthetic import subset, synthetic_cache, with_probs


def recs_of(cache) -> list[Recommendation]:
    return recommendations(AnalysedRun(cache))


def by_key(cache) -> dict[str, Recommendation]:
    return {r.key: r for r in recs_of(cache)}


@pytest.fixture
def cache():
    return synthetic_cache()


def test_every_rule_returns_findings_with_their_wording(cache):
    run = AnalysedRun(cache)
    keys = set()
    for name, rule in REGISTRY.items():
        out = rule(run)
        found = [out] if isinstance(out, Finding) else list(out or [])
        assert all(isinstance(f, Finding) for f in found), name
        keys |= {f.key for f in found}
    assert keys == {f.key for f in find(run)} and keys <= set(WORDING)
    assert set(WORDING) >= set(REGISTRY) - {"map_regions"} | {"same_region", "other_region"}


def test_ranked_by_share_with_consistent_numbers(cache):
    recs = recs_of(cache)
    assert recs, "the synthetic run has clear patterns (class 1 read as class 0)"
    assert all(isinstance(r, Recommendation) for r in recs)
    shares = [r.finding.share_of_errors for r in recs]
    assert shares == sorted(shares, reverse=True)
    n_err = int((cache.labels != cache.preds).sum())
    for r in recs:
        f = r.finding
        assert 0 < f.share_of_errors <= 1
        assert f.errors_addressed == pytest.approx(f.share_of_errors * n_err, abs=0.5)
        assert f"{f.errors_addressed} of {n_err}" in r.evidence
        assert r.title and r.advice and re.search(r"\d", r.evidence)
    assert len({r.key for r in recs}) == len(recs)


def test_near_miss_evidence_is_this_runs_numbers(cache):
    rec = by_key(cache)["near_misses"]
    wrong = cache.labels != cache.preds
    in_top5 = int((cache.topk_classes[wrong, :5] == cache.labels[wrong, None]).any(axis=1).sum())
    second = int((cache.topk_classes[wrong, 1] == cache.labels[wrong]).sum())
    assert rec.finding.errors_addressed == in_top5
    assert f"In {in_top5} of {int(wrong.sum())} errors" in rec.evidence
    assert f"in {second} (" in rec.evidence


def test_strong_pair_names_the_pair(cache):
    rec = by_key(cache)["strong_pairs"]
    top = AnalysedRun(cache).metrics.confused_pairs.frame.iloc[0]
    assert f"{top['true_name']} → {top['pred_name']}: {top['count']}" in rec.evidence
    assert {int(top["true_id"]), int(top["pred_id"])} <= set(rec.finding.classes)


def test_no_errors_no_advice(cache):
    perfect = AnalysedRun(subset(cache, cache.labels == cache.preds))
    assert recommendations(perfect) == [] and find(perfect) == []
    assert "Only 0 errors in" in recommendations_text(perfect)
    assert "too few to base any advice on" in recommendations_text(perfect)
    assert "too few to base any advice on" in recommendations_markdown(perfect)


def test_overconfidence_only_when_errors_are_confident(cache):
    wrong = cache.labels != cache.preds
    assert not (cache.confidence[wrong] >= HIGH_CONFIDENCE).any()
    assert "overconfidence" not in by_key(cache)
    # make every error a 99%-confident one
    probs = cache.probs.astype(np.float64).copy()
    probs[wrong] = 1e-4
    probs[np.nonzero(wrong)[0], cache.preds[wrong]] = 1.0
    confident = with_probs(cache, probs)
    rec = by_key(confident)["overconfidence"]
    n = int(wrong.sum())
    assert rec.finding.errors_addressed == n and rec.finding.share_of_errors == 1.0
    assert f"{n} errors at >= 90% confidence ({n} of {n} errors, 100.0%)" in rec.evidence
    cal = AnalysedRun(confident).calibration
    assert rec.evidence.startswith(
        f"ECE {cal.ece:.3f} (15 bins); temperature T={cal.temperature:.2f} brings it to {cal.ece_after:.3f} "
        "on held-out halves;"
    )
    assert list(cal.high_conf_errors) and set(cal.high_conf_errors) == set(np.nonzero(wrong)[0])


def test_background_attention_needs_a_difference_from_correct_answers(cache):
    # in the synthetic run every predicted-class map is noise, for right and wrong answers alike: no advice
    assert "background" not in by_key(cache)
    # maps on the object when right, in the empty corner when wrong: now the masks show a real difference
    wrong = cache.labels != cache.preds
    cam_topk = cache.cam_topk.copy()
    cam_topk[~wrong, 0] = cache.cam_true[~wrong]
    corner = np.zeros((8, 8), np.float32)
    corner[6:, 6:] = 1.0
    cam_topk[wrong, 0] = corner
    shifted = replace(cache, cam_topk=cam_topk)
    rec = by_key(shifted)["background"]
    assert rec.finding.errors_addressed == int(wrong.sum())
    assert "against 0.0% [0.0%, 0.0%] of correct predictions" in rec.evidence
    assert "denser off the object than on it" in rec.evidence


def test_label_noise_cites_only_the_strong_suspects(cache):
    suspects = AnalysedRun(cache).suspects
    assert len(suspects) and not np.asarray(suspects["strong"]).any()  # weak candidates alone advise nothing
    assert "label_noise" not in by_key(cache)
    # six class-1 images the model all but refuses to call class 1: strong suspects
    probs = cache.probs.astype(np.float64).copy()
    picked = np.nonzero(cache.labels == 1)[0][:6]
    probs[picked] = 1e-4
    probs[picked, 5] = 1.0
    probs /= probs.sum(1, keepdims=True)
    noisy = with_probs(cache, probs)
    sus = AnalysedRun(noisy).suspects.frame
    strong = sus[sus.strong]
    assert sorted(strong.image.tolist()) == sorted(picked.tolist())
    rec = by_key(noisy)["label_noise"]
    null = AnalysedRun(noisy).suspect_precision.strong
    assert null.beats_null and null.null_high < 6  # clean labels drawn from this model make fewer
    assert rec.finding.errors_addressed == round(null.excess) == 6
    assert f"about 6 of {int((noisy.labels != noisy.preds).sum())} errors are likely wrong labels" in rec.evidence
    assert "6 images (" in rec.evidence and "strong label suspects" in rec.evidence
    top = strong.iloc[0]
    assert f"image {top['image']} {top['given']} → {top['suggested']}" in rec.evidence
    assert int(top["given_id"]) in rec.finding.classes


def test_label_noise_silent_without_suspects(cache):
    # every image confidently and correctly labelled: no class clears its threshold against the given label
    probs = np.full(cache.probs.shape, 1e-3)
    probs[np.arange(len(probs)), cache.labels] = 1.0
    clean = with_probs(cache, probs)
    assert len(AnalysedRun(clean).suspects) == 0
    assert "label_noise" not in by_key(clean)


def test_background_uses_the_runs_attention(cache):
    """The rule counts the errors the attention analysis flags, not a background measure of its own."""
    wrong = cache.labels != cache.preds
    cam_topk = cache.cam_topk.copy()
    corner = np.zeros((8, 8), np.float32)
    corner[6:, 6:] = 1.0
    cam_topk[wrong, 0] = corner
    cam_topk[~wrong, 0] = cache.cam_true[~wrong]
    shifted = replace(cache, cam_topk=cam_topk)
    off = AnalysedRun(shifted).attention.background_focus > BACKGROUND_FLAG
    rec = by_key(shifted)["background"]
    assert rec.finding.errors_addressed == int(off[wrong].sum()) > 0
    assert rec.finding.facts["uses_masks"] is True


def test_within_superclass_uses_the_analysis_share():
    base = synthetic_cache(n_per_class=30, num_classes=16, seed=3)
    # 8 superclasses of two classes each: a random wrong answer lands in the true superclass 1/15 of the time
    base = replace(base, superclass_names=[f"pair_{k}" for k in range(8)], class_to_superclass=np.arange(16) // 2)
    assert "within_superclass" not in by_key(base)  # only class 1 -> 0 is sibling
    # now half of every odd class is read as its sibling
    rng = np.random.default_rng(0)
    probs = base.probs.astype(np.float64).copy()
    flip = np.nonzero((base.labels % 2 == 1) & (rng.random(base.num_images) < 0.5))[0]
    probs[flip, base.labels[flip] - 1] += 5.0
    cache = with_probs(base, probs)
    a = AnalysedRun(cache).metrics
    assert a.errors_within_superclass > 0.5
    rec = by_key(cache)["within_superclass"]
    assert rec.finding.share_of_errors == pytest.approx(a.errors_within_superclass)
    n_err = a.num_images - a.num_correct
    share = f"{a.errors_within_superclass:.1%}"
    assert f"{rec.finding.errors_addressed} of {n_err} errors ({share}) predict another" in rec.evidence
    assert "about 6.7% if wrong answers were random" in rec.evidence


def test_text_and_markdown_list_the_same_recommendations(cache):
    run = AnalysedRun(cache)
    recs = recommendations(run)
    text = recommendations_text(run)
    md = recommendations_markdown(run)
    assert recs
    for k, r in enumerate(recs, 1):
        assert f"{k}. {r.title}" in text
        assert f"## {k}\\. {md_escape(r.title)}" in md
        assert f"Addresses {r.finding.share_of_errors:.1%} of errors ({r.finding.errors_addressed})." in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_markdown_escapes_class_names():
    cache = synthetic_cache()
    cache.class_names[0] = "<b>bold</b> *star* [link](http://x)"
    cache.class_names[1] = "under_score`tick`"
    md = recommendations_markdown(AnalysedRun(cache))
    assert "<b>" not in md and "*star*" not in md and "[link](" not in md and "`tick`" not in md
    assert md_escape("a<b>_c") == "a\\<b\\>\\_c"
    assert "\\<b\\>bold\\<\\/b\\>" in md  # the name is there, literally
