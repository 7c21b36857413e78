"""Faithfulness and model randomisation, the analysis side: AUCs, drop and increase from the stored
probabilities, per-class ranking with intervals, the randomisation verdict."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis import faithfulness as faith
from engine.analysis.sanity import DEPENDS_MAX, model_randomisation


def test_auc_is_the_trapezoid_area_over_the_fraction_of_cells():
    curves = np.array([[1, 1, 1, 1, 1], [1, 0.75, 0.5, 0.25, 0], [1, 0, 0, 0, 0]], dtype=np.float64)
    np.testing.assert_allclose(faith.auc(curves), [1.0, 0.5, 0.125])


def _members(n=10, steps=4):
    deletion = np.full((n, steps + 1), np.nan, np.float32)
    insertion = np.full((n, steps + 1), np.nan, np.float32)
    masked = np.full(n, np.nan, np.float32)
    return deletion, insertion, masked


def test_measure_reads_the_sampled_rows_and_derives_drop_and_increase():
    deletion, insertion, masked = _members()
    deletion[[2, 5]] = [[0.8, 0.4, 0.2, 0.1, 0.1], [0.5, 0.5, 0.5, 0.5, 0.1]]
    insertion[[2, 5]] = [[0.1, 0.6, 0.8, 0.8, 0.8], [0.1, 0.1, 0.1, 0.1, 0.5]]
    masked[[2, 5]] = [0.6, 0.7]
    f = faith.measure(deletion, insertion, masked)
    assert f.index.tolist() == [2, 5] and f.steps == 4
    np.testing.assert_allclose(f.drop, [0.25, 0.0])  # (0.8 - 0.6) / 0.8; the second rose
    np.testing.assert_allclose(f.increase, [0.0, 1.0])
    np.testing.assert_allclose(f.deletion_auc, faith.auc(deletion[[2, 5]]))
    assert f.gap[0] > 0 > f.gap[1]  # the first map is faithful, the second backwards


def test_without_the_members_nothing_is_available():
    assert not faith.measure(None, None, None).available


def test_per_class_ranks_the_lowest_gap_first_and_needs_enough_images():
    rng = np.random.default_rng(0)
    n = 3 * 8 + 3
    labels = np.array([0] * 8 + [1] * 8 + [2] * 8 + [3] * 3)
    deletion, insertion, masked = _members(n)
    gap = {0: 0.3, 1: -0.1, 2: 0.1, 3: -0.5}  # class 3 is the least faithful but has 3 images only
    for i, c in enumerate(labels):
        d = 0.5 + 0.02 * rng.standard_normal()
        deletion[i] = d
        insertion[i] = d + gap[c]
        masked[i] = d
    f = faith.measure(deletion, insertion, masked)
    table = faith.per_class(f, labels, ["a", "b", "c", "d"])
    assert table["n"] == [8, 8, 8, 3]
    assert faith.least_faithful(table) == [1, 2, 0]
    assert table["least_faithful_rank"][3] == 0
    for c in range(4):
        assert table["gap_low"][c] <= table["gap"][c] <= table["gap_high"][c]
        assert table["gap"][c] == pytest.approx(gap[c], abs=1e-6)


def test_model_randomisation_verdict_from_its_interval():
    rng = np.random.default_rng(0)
    low = np.full(50, np.nan)
    low[:20] = 0.1 + 0.05 * rng.standard_normal(20)
    high = np.clip(DEPENDS_MAX + 0.1 + 0.02 * rng.standard_normal(50), -1, 1)
    meta = {"model_randomisation": {"reinitialised": "layer3 and fc"}}
    passed, failed = model_randomisation(low, meta), model_randomisation(high, {})
    assert passed.available and passed.depends_on_weights and passed.corr.n == 20
    assert passed.reinitialised == "layer3 and fc"
    assert failed.available and not failed.depends_on_weights
    assert not model_randomisation(None, {}).available


def test_a_failed_model_randomisation_withholds_grad_cam_advice(make_run):
    from engine.analysis.recommendations.base import maps_trusted
    from engine.reports.recommendations_checks import randomisation_sentence
    from tests.synthetic import synthetic_cache

    plain = make_run(synthetic_cache())
    assert maps_trusted(plain) and randomisation_sentence(plain) is None
    c = synthetic_cache()
    c.sanity_randomised_corr = np.full(c.num_images, 0.95, np.float32)  # the maps survive re-initialisation
    run = make_run(c)
    assert run.sanity.depends_on_class and not run.model_randomisation.depends_on_weights
    assert not maps_trusted(run)
    assert randomisation_sentence(run).startswith("Model-randomisation sanity check: FAILED")


def test_pair_gaps_order_the_pairs_with_enough_sampled_errors_least_faithful_first():
    # three confused pairs: (0 -> 1) six errors of gap 0.4, (1 -> 0) five of gap -0.2, (2 -> 0) two of gap -0.9
    labels = np.array([0] * 6 + [1] * 5 + [2] * 2 + [0, 1])
    preds = np.array([1] * 6 + [0] * 5 + [0] * 2 + [0, 1])  # the last two are correct
    gaps = np.array([0.4] * 6 + [-0.2] * 5 + [-0.9] * 2 + [0.0, 0.0])
    deletion, insertion, masked = _members(len(labels))
    deletion[:] = 0.5
    insertion[:] = 0.5 + gaps[:, None]
    masked[:] = 0.5
    f = faith.measure(deletion, insertion, masked)
    g = faith.pair_gaps(f, labels, preds, [0, 1, 2, 2], [1, 0, 0, 1])
    assert g.n.tolist() == [6, 5, 2, 0]
    np.testing.assert_allclose(g.mean[:3], [0.4, -0.2, -0.9], atol=1e-6)
    assert np.isnan(g.mean[3])
    assert g.least_faithful_first().tolist() == [1, 0, 2, 3]  # (2 -> 0) is lowest but has too few to rank
    e = g.interval(0)
    assert e.n == 6 and e.low <= e.value <= e.high
    pairs = faith.Table({"rank": [1, 2], "true_name": ["a", "b"], "pred_name": ["b", "a"],
                         "true_id": [0, 1], "pred_id": [1, 0]})
    table = faith.per_pair(f, labels, preds, pairs)
    assert table["n"] == [6, 5] and table["gap"] == pytest.approx([0.4, -0.2], abs=1e-6)
