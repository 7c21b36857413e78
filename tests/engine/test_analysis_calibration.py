"""Calibration (engine.analysis.calibration): ECE/MCE, temperature scaling judged on held-out halves, the
confidently wrong answers, on cases where the answer is known."""

from __future__ import annotations

import numpy as np

from engine.analysis.calibration import brier, calibrate, ece_mce, fit_temperature, nll, reliability, softmax


def test_ece_of_a_hand_made_case():
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, False, True, True])
    ece, mce = ece_mce(conf, correct)
    # bin (0.933, 1]: conf .95 acc .5 -> gap .45; bin (0.533, .6]: conf .55 acc 1 -> gap .45
    assert abs(ece - 0.45) < 1e-12 and abs(mce - 0.45) < 1e-12
    r = reliability(conf, correct)
    assert r.counts.sum() == 4 and r.counts[14] == 2 and r.counts[8] == 2 and len(r.edges) == 16


def test_nll_and_brier_of_a_hand_made_case():
    probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    labels = np.array([0, 1])
    assert abs(nll(probs, labels) - (np.log(2) + np.log(10)) / 2) < 1e-12
    assert abs(brier(probs, labels) - (0.5 + 1.62) / 2) < 1e-12


def test_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(0)
    n, c = 6000, 10
    true_logits = rng.normal(0, 1.5, (n, c))
    labels = np.array([rng.choice(c, p=p) for p in softmax(true_logits)])
    t = fit_temperature(true_logits * 2.5, labels)  # the model is 2.5x over-confident
    assert abs(t - 2.5) < 0.2
    cal = calibrate(true_logits * 2.5, labels)
    assert cal.ece_after < cal.ece / 3
    assert all(abs(x - 2.5) < 0.3 for x in cal.temperature_folds)
    assert cal.nll_after < cal.nll


def test_high_confidence_errors_are_listed_most_confident_first():
    logits = np.array([[9.0, 0, 0], [0, 5.0, 0], [0, 0, 1.0], [7.0, 0, 0]])
    cal = calibrate(logits, np.array([1, 1, 0, 2]))
    assert cal.high_conf_errors.tolist() == [0, 3]
