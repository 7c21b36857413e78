"""The CSV reports (engine.reports.tables, diagnosis): every table equals the run's analysis, row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.analysis.label_suspects import class_thresholds
from engine.analysis.attention import BACKGROUND_FLAG, DIFFUSE_FLAG
from engine.reports import filenames as fn
from engine.reports.tables import PAIR_COLUMNS, PER_CLASS_COLUMNS


def test_per_class_csv_matches_analysis(written_reports):
    run, out, _ = written_reports
    cache = run.cache
    df = pd.read_csv(out / fn.PER_CLASS_CSV, keep_default_na=False, na_values=[""])
    pc = run.metrics.per_class.frame
    assert list(df.columns) == PER_CLASS_COLUMNS
    assert len(df) == cache.num_classes
    assert df["class_name"].tolist() == cache.class_names  # including "odd/na me<b>"
    assert df["class_id"].tolist() == list(range(cache.num_classes))
    for col in ("support", "correct", "top_wrong_count"):
        assert df[col].tolist() == pc[col].tolist(), col
    for col in ("accuracy", "precision", "recall", "f1", "mean_confidence", "mean_confidence_correct"):
        np.testing.assert_allclose(df[col], pc[col], atol=1e-6, err_msg=col)
    np.testing.assert_allclose(
        df["mean_confidence_wrong"].fillna(-1), pc["mean_confidence_wrong"].fillna(-1), atol=1e-6
    )
    assert df["superclass"].tolist() == [cache.superclass_names[s] for s in cache.class_to_superclass]
    assert df.loc[1, "top_wrong_prediction"] == "class_0" and df.loc[1, "top_wrong_count"] == 5
    assert df.loc[1, "correct"] / df.loc[1, "support"] == pytest.approx(df.loc[1, "accuracy"], abs=1e-6)


def test_pairs_csv_matches_analysis(written_reports):
    run, out, _ = written_reports
    df = pd.read_csv(out / fn.PAIRS_CSV)
    pairs = run.metrics.confused_pairs.frame
    assert list(df.columns) == PAIR_COLUMNS
    assert len(df) == len(pairs) <= 15
    assert df["rank"].tolist() == list(range(1, len(df) + 1))
    assert df["count"].tolist() == pairs["count"].tolist()
    assert df["true_name"].tolist() == pairs["true_name"].tolist()
    assert df["pred_name"].tolist() == pairs["pred_name"].tolist()
    conf = run.metrics.confusion
    assert all(conf[r.true_id, r.pred_id] == r.count for r in df.itertuples())
    np.testing.assert_allclose(df["share_of_true"], pairs["share_of_true"], atol=1e-6)
    np.testing.assert_allclose(df["mean_confidence"], pairs["mean_confidence"], atol=1e-6)
    assert df["same_superclass"].tolist() == pairs["same_superclass"].tolist()
    assert (df.loc[0, "true_name"], df.loc[0, "pred_name"], df.loc[0, "count"]) == ("class_1", "class_0", 5)


def test_suspects_csv_equals_the_runs_suspects(written_reports):
    run, out, _ = written_reports
    df = pd.read_csv(out / fn.SUSPECTS_CSV, keep_default_na=False)
    sus = run.suspects.frame
    assert len(df) == len(sus) > 0
    assert df["rank"].tolist() == list(range(1, len(sus) + 1))
    for col in ("image", "given_id", "suggested_id"):
        assert df[col].tolist() == sus[col].tolist()
    assert df["given"].tolist() == sus["given"].tolist() and df["suggested"].tolist() == sus["suggested"].tolist()
    for col in ("p_given", "p_suggested", "margin", "threshold"):
        assert np.allclose(df[col], sus[col], atol=1e-6)
    assert df["strong"].tolist() == sus["strong"].tolist()
    t = class_thresholds(run.cache.probs.astype(np.float64), run.cache.labels)
    score = df["p_given"].to_numpy() / t[df["given_id"].to_numpy()]
    assert (np.diff(score) >= -1e-5).all()  # ranked: the given label least believed, against its class, first


def test_attention_csv_equals_the_runs_attention(written_reports):
    run, out, _ = written_reports
    df = pd.read_csv(out / fn.ATTENTION_CSV)
    apc = run.attention_per_class.frame
    assert list(df.columns) == list(apc.columns) and len(df) == run.cache.num_classes
    assert df["errors"].tolist() == apc["errors"].tolist()
    for col in apc.columns[3:]:
        assert np.allclose(df[col], apc[col], atol=1e-6, equal_nan=True), col


def test_attention_flags_list_every_flagged_image_errors_first(written_reports):
    run, out, _ = written_reports
    att = run.attention
    flagged = (att.background_focus > BACKGROUND_FLAG) | (att.diffuseness > DIFFUSE_FLAG)
    table = pd.read_csv(out / fn.ATTENTION_FLAGS_CSV)
    assert len(table) and sorted(table["image"]) == np.nonzero(flagged)[0].tolist()
    assert table["correct"].tolist() == sorted(table["correct"].tolist())  # errors (False) first
    np.testing.assert_allclose(table["background_focus"], att.background_focus[table["image"]], atol=1e-6)


def test_high_confidence_errors_are_listed_most_confident_first(written_reports):
    run, out, _ = written_reports
    cache = run.cache
    table = pd.read_csv(out / fn.HIGH_CONFIDENCE_ERRORS_CSV)
    wrong_hi = (cache.labels != cache.preds) & (cache.confidence >= 0.9)
    assert sorted(table["image"]) == np.nonzero(wrong_hi)[0].tolist()
    assert table["confidence"].tolist() == sorted(table["confidence"].tolist(), reverse=True)
