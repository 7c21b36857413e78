"""The definitions of DESIGN.md on hand-made cases where the answer is known."""

from __future__ import annotations

import numpy as np

from engine.analysis import LOW_CONFIDENCE_CORRECT, MISCLASSIFIED, analyse, confusion_matrix
from engine.cam_display import display_cam, heatmap_rgb, jet_lut, upsample


def _probs(preds, conf, n_cls):
    p = np.full((len(preds), n_cls), 0.0, dtype=np.float32)
    for i, (c, v) in enumerate(zip(preds, conf)):
        p[i] = (1 - v) / (n_cls - 1)
        p[i, c] = v
    return p


def test_worst_and_best_follow_the_definition():
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    preds = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0])
    conf = np.array([0.6, 0.9, 0.5, 0.95, 0.4, 0.8, 0.99, 0.7, 0.55])
    probs = _probs(preds, conf, 3)
    topk = np.argsort(-probs, axis=1, kind="stable")
    a = analyse(labels, probs, preds, topk, ["a", "b", "c"])
    # class 0: two wrong (0.9 then 0.6), then correct by ascending confidence (0.4, 0.5, 0.8)
    assert a.worst_of(0) == [(1, MISCLASSIFIED), (0, MISCLASSIFIED), (4, LOW_CONFIDENCE_CORRECT),
                             (2, LOW_CONFIDENCE_CORRECT), (5, LOW_CONFIDENCE_CORRECT)]
    assert a.best_of(0) == [6, 3, 5]
    assert a.worst_of(1) == [(8, MISCLASSIFIED), (7, LOW_CONFIDENCE_CORRECT)]
    assert a.best_of(2) == [] and a.worst_of(2) == []
    assert a.num_correct == 6 and abs(a.top1 - 6 / 9) < 1e-12


def test_confusion_and_per_class_metrics():
    labels = np.array([0, 0, 1, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 0, 1])
    cm = confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]
    probs = _probs(preds, np.full(6, 0.7), 3)
    a = analyse(labels, probs, preds, np.argsort(-probs, 1, kind="stable"), ["x", "y", "z"])
    row = a.per_class.set_index("class_name").loc["y"]
    assert row.support == 3 and row.correct == 2
    assert abs(row.precision - 2 / 4) < 1e-12 and abs(row.recall - 2 / 3) < 1e-12
    assert abs(row.f1 - 2 * (0.5 * 2 / 3) / (0.5 + 2 / 3)) < 1e-12
    assert row.top_wrong_prediction == "x" and row.top_wrong_count == 1
    z = a.per_class.set_index("class_name").loc["z"]
    assert z.accuracy == 0 and z.f1 == 0 and np.isnan(z.precision)


def test_confused_pairs_ties_broken_by_confidence_then_name():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([1, 1, 0, 0, 0, 0, 1])
    conf = np.array([0.5, 0.5, 0.9, 0.9, 0.5, 0.5, 0.3])
    probs = _probs(preds, conf, 3)
    a = analyse(labels, probs, preds, np.argsort(-probs, 1, kind="stable"), ["c", "b", "a"],
                ["s0", "s1"], np.array([0, 0, 1]))
    pairs = a.confused_pairs
    assert list(zip(pairs.true_name, pairs.pred_name)) == [("b", "c"), ("a", "c"), ("c", "b"), ("a", "b")]
    assert pairs["count"].tolist() == [2, 2, 2, 1]
    assert pairs.same_superclass.tolist() == [True, False, True, False]
    assert abs(a.errors_within_superclass - 4 / 7) < 1e-12


def test_top5_uses_top_k_classes():
    labels = np.array([0, 1])
    probs = np.array([[0.1, 0.5, 0.4], [0.2, 0.3, 0.5]], dtype=np.float32)
    topk = np.array([[1, 2], [2, 1]])
    a = analyse(labels, probs, topk[:, 0], topk, ["a", "b", "c"])
    assert a.top1 == 0 and a.top5 == 0.5


def test_upsample_matches_torch_bilinear_half_pixel():
    import torch
    import torch.nn.functional as F

    maps = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    ours = upsample(maps, (32, 32))
    ref = F.interpolate(torch.from_numpy(maps)[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(ours, ref.numpy(), atol=1e-6)


def test_display_cam_is_in_unit_range_and_flat_maps_are_zero():
    maps = np.stack([np.zeros((4, 4)), np.arange(16.0).reshape(4, 4) - 3])
    shown = display_cam(maps, (16, 16))
    assert shown.shape == (2, 16, 16)
    assert shown[0].max() == 0
    assert abs(shown[1].max() - 1) < 1e-5 and shown[1].min() == 0


def test_jet_lut_matches_matplotlib():
    import matplotlib

    ref = np.round(matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255)
    assert np.abs(ref - jet_lut().astype(float)).max() <= 1
    assert heatmap_rgb(np.array([[0.0, 1.0]])).tolist() == [[[0, 0, 128], [128, 0, 0]]]
