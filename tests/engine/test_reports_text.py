"""The text reports (engine.reports.summary, recommendations): every number is the run's."""

from __future__ import annotations

import re

import pytest

from engine.reports import filenames as fn
from engine.reports.recommendations import recommendations_text
from engine.reports.summary import summary_text


def test_summary_numbers_agree_with_analysis(written_reports):
    run, out, _ = written_reports
    text = (out / fn.SUMMARY_TXT).read_text(encoding="utf-8")
    assert text == summary_text(run)
    a = run.metrics
    assert f"Top-1 accuracy:  {a.top1:.2%} ({a.num_correct}/{a.num_images} correct)" in text
    assert f"Top-5 accuracy:  {a.top5:.2%}" in text
    assert f"Errors:          {a.num_images - a.num_correct}" in text
    # worst classes, in order, with their accuracy and counts
    section = text.split("Worst 10 classes by accuracy")[1].split("Best 5 classes")[0]
    listed = re.findall(r"^\s+\d+\. (.+?)\s+(\d+\.\d)%\s+\((\d+)/(\d+)\)", section, flags=re.M)
    pc = a.per_class.frame.sort_values(["accuracy", "class_id"], kind="mergesort")
    assert [x[0].strip() for x in listed] == pc["class_name"].tolist()[: len(listed)]
    assert len(listed) == min(10, run.cache.num_classes)
    for (name, acc, correct, support), r in zip(listed, pc.itertuples()):
        assert (int(correct), int(support)) == (r.correct, r.support)
        assert float(acc) == pytest.approx(100 * r.accuracy, abs=0.05)
    top = a.confused_pairs.frame.iloc[0]
    assert f"1. {top['true_name']} -> {top['pred_name']}: {top['count']} images" in text
    assert f"Errors that stay within the true superclass: {a.errors_within_superclass:.1%}" in text
    assert "group_a" in text and "group_b" in text
    assert "target_layer: layer3" in text and "model.arch: synthetic" in text


def test_recommendations_txt_is_the_recommendations_text(written_reports):
    run, out, _ = written_reports
    assert (out / fn.RECOMMENDATIONS_TXT).read_text(encoding="utf-8") == recommendations_text(run)


def test_summary_has_calibration_attention_and_suspects(written_reports):
    run, out, _ = written_reports
    text = (out / fn.SUMMARY_TXT).read_text(encoding="utf-8")
    cal, suspects = run.calibration, run.suspects.frame
    for heading in ("Calibration", "Attention", "Label suspects"):
        assert f"\n{heading}\n" in text
    assert f"ECE (15 bins): {cal.ece:.4f}" in text and f"MCE: {cal.mce:.4f}" in text
    assert f"NLL: {cal.nll:.4f}" in text and f"Brier: {cal.brier:.4f}" in text
    t1, t2 = cal.temperature_folds
    assert f"T = {t1:.3f} and {t2:.3f}" in text and f"ECE {cal.ece_after:.4f}" in text
    assert f"Errors at >= 90% confidence: {len(cal.high_conf_errors)}" in text
    assert f"doubts (confident-learning thresholds): {len(suspects)}" in text
    for r in suspects.head(10).itertuples():
        assert f"image {r.image}: {r.given} -> {r.suggested}" in text
    ranking, section = run.attention_ranking, text.split("\nAttention\n")[1].split("\nLabel suspects\n")[0]
    assert f"Baseline, over every error of the run: {ranking.baseline.value:.1%}" in " ".join(section.split())
    if ranking.order:
        assert f"   1. {run.class_names[ranking.order[0]]}" in section
    else:
        assert "No class" in section and "   1. " not in section
    assert "Random-logit sanity check: " in text and "against" in text.split("\nAttention\n")[0]


def test_compare_summary_numbers_are_the_comparisons(make_cache, make_run, tmp_path):
    from engine.analysis.compare import compare
    from engine.reports.compare import summary_lines, summary_text, write_comparison
    from tests.synthetic import cured_copy

    old = make_cache()
    new, n_fixed = cured_copy(old)
    cmp = compare(make_run(old), make_run(new))
    s = cmp.summary
    lines = summary_lines(cmp, "old.npz", "new.npz")
    assert lines[0] == "Comparison: old.npz -> new.npz"
    assert lines[1] == (f"Top-1 accuracy: {s['top1_old'] * 100:.2f}% -> {s['top1_new'] * 100:.2f}% "
                        f"({(s['top1_new'] - s['top1_old']) * 100:+.2f} points)")
    assert f"Images fixed: {n_fixed}, broken: 0 (net +{n_fixed})" in lines
    improved = lines[lines.index("Classes that improved most:") + 1]
    assert improved.lstrip().startswith(old.class_names[1]) and f"fixed {n_fixed}, broken 0" in improved
    paths = write_comparison(cmp, tmp_path, "old.npz", "new.npz")
    assert [p.name for p in paths] == ["compare_per_class.csv", "compare_images.csv", "compare_summary.txt"]
    assert (tmp_path / "compare_summary.txt").read_text(encoding="utf-8") == summary_text(cmp, "old.npz", "new.npz")
