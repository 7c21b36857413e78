"""Calibration, attention diagnostics and label suspects on cases where the answer is known."""

from __future__ import annotations

import numpy as np

from engine.attention import measure, ring_mask
from engine.calibration import calibrate, ece_mce, fit_temperature, softmax
from engine.label_suspects import label_suspects


def test_ece_of_a_hand_made_case():
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, False, True, True])
    ece, mce = ece_mce(conf, correct)
    # bin (0.933, 1]: conf .95 acc .5 -> gap .45; bin (0.533, .6]: conf .55 acc 1 -> gap .45
    assert abs(ece - 0.45) < 1e-12 and abs(mce - 0.45) < 1e-12


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


def test_background_focus_with_masks_and_ring():
    cam = np.zeros((2, 8, 8), dtype=np.float32)
    cam[0, 3:5, 3:5] = 1.0  # centre
    cam[1, 0, :] = 1.0  # top edge
    masks = np.zeros((2, 32, 32), dtype=bool)
    masks[:, 8:24, 8:24] = True
    att = measure(cam, cam, np.array([True, True]), (32, 32), masks)
    assert att.background_focus[0] < 0.05 and att.background_focus[1] > 0.9
    att_ring = measure(cam, cam, np.array([True, True]), (32, 32))
    assert att_ring.background_focus[0] < 0.05 and att_ring.background_focus[1] > 0.9
    assert ring_mask((32, 32)).mean() == 1 - (24 / 32) ** 2


def test_diffuseness_and_overlap():
    flat = np.ones((1, 8, 8), dtype=np.float32)
    peak = np.zeros((1, 8, 8), dtype=np.float32)
    peak[0, 2, 2] = 1
    att = measure(np.concatenate([flat, peak]), np.concatenate([peak, peak]), np.array([False, False]), (32, 32))
    assert abs(att.diffuseness[0] - 1) < 1e-9 and att.diffuseness[1] == 0
    assert abs(att.true_pred_overlap[0] - 1 / 64) < 1e-9 and abs(att.true_pred_overlap[1] - 1) < 1e-9


def test_label_suspects_find_a_confidently_contradicted_label():
    probs = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.97, 0.03], [0.55, 0.45]], dtype=np.float64
    )
    labels = np.array([0, 0, 1, 1, 1, 1])  # image 4 is labelled 1 but looks like a confident 0
    sus = label_suspects(probs, labels, ["cat", "dog"])
    assert sus.image.tolist()[0] == 4 and sus.suggested.tolist()[0] == "cat"
    assert 5 not in sus.image.tolist()  # 0.55 is below class 0's threshold
