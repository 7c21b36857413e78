"""Where the model looks (engine.analysis.attention): background focus with masks or the outer ring,
diffuseness, true/predicted map overlap, per class and per pair."""

from __future__ import annotations

import numpy as np

from engine.analysis.attention import measure, per_class, per_pair, ring_mask
from engine.analysis.tables import Table


def test_background_focus_with_masks_and_ring():
    cam = np.zeros((2, 8, 8), dtype=np.float32)
    cam[0, 3:5, 3:5] = 1.0  # centre
    cam[1, 0, :] = 1.0  # top edge
    masks = np.zeros((2, 32, 32), dtype=bool)
    masks[:, 8:24, 8:24] = True
    att = measure(cam, cam, np.array([True, True]), (32, 32), masks)
    assert att.uses_masks and att.background_focus[0] < 0.05 and att.background_focus[1] > 0.9
    att_ring = measure(cam, cam, np.array([True, True]), (32, 32))
    assert not att_ring.uses_masks
    assert att_ring.background_focus[0] < 0.05 and att_ring.background_focus[1] > 0.9
    assert ring_mask((32, 32)).mean() == 1 - (24 / 32) ** 2


def test_an_even_or_empty_map_has_no_background_focus_either_way():
    maps = np.stack([np.ones((8, 8)), np.zeros((8, 8))]).astype(np.float32)
    att = measure(maps, maps, np.array([True, True]), (32, 32))
    np.testing.assert_allclose(att.background_focus, [0.5, 0.5], atol=1e-6)


def test_diffuseness_and_overlap():
    flat = np.ones((1, 8, 8), dtype=np.float32)
    peak = np.zeros((1, 8, 8), dtype=np.float32)
    peak[0, 2, 2] = 1
    att = measure(np.concatenate([flat, peak]), np.concatenate([peak, peak]), np.array([False, False]), (32, 32))
    assert abs(att.diffuseness[0] - 1) < 1e-9 and att.diffuseness[1] == 0
    assert abs(att.true_pred_overlap[0] - 1 / 64) < 1e-9 and abs(att.true_pred_overlap[1] - 1) < 1e-9


def test_per_class_and_per_pair_tables():
    centre = np.zeros((8, 8), np.float32)
    centre[3:5, 3:5] = 1
    edge = np.zeros((8, 8), np.float32)
    edge[0, :] = 1
    labels, preds = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 0])  # image 1: 0 -> 1, image 3: 1 -> 0
    cam_pred = np.stack([centre, edge, centre, centre])
    cam_true = np.stack([centre, centre, centre, edge])
    att = measure(cam_pred, cam_true, labels == preds, (32, 32))
    table = per_class(att, labels, preds, ["a", "b"]).frame.set_index("class_name")
    assert table.loc["a", "errors"] == 1 and table.loc["a", "errors_background_share"] == 1.0
    assert table.loc["b", "errors_background_share"] == 0.0
    # every error a class is part of, through that class's own map: b's maps are the edge in both of its
    # errors (image 1 predicted as b, image 3 truly b), a's never
    assert table.loc["a", "errors_involving"] == 2 and table.loc["b", "errors_involving"] == 2
    assert table.loc["a", "errors_involving_background_share"] == 0.0
    assert table.loc["b", "errors_involving_background_share"] == 1.0
    pairs = Table({"rank": [1, 2], "true_name": ["a", "b"], "pred_name": ["b", "a"], "count": [1, 1],
                   "true_id": [0, 1], "pred_id": [1, 0]})
    pp = per_pair(att, labels, preds, pairs)
    assert pp["background_focus"][0] > 0.9 and pp["background_focus"][1] < 0.1
    assert list(pp["count"]) == [1, 1]
