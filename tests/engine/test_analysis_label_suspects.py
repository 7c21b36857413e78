"""Label suspects in the spirit of confident learning (engine.analysis.label_suspects)."""

from __future__ import annotations

import numpy as np

from engine.analysis.label_suspects import class_thresholds, label_suspects


def test_label_suspects_find_a_confidently_contradicted_label():
    probs = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.97, 0.03], [0.55, 0.45]], dtype=np.float64
    )
    labels = np.array([0, 0, 1, 1, 1, 1])  # image 4 is labelled 1 but looks like a confident 0
    np.testing.assert_allclose(class_thresholds(probs, labels), [0.85, (0.9 + 0.8 + 0.03 + 0.45) / 4])
    sus = label_suspects(probs, labels, ["cat", "dog"])
    assert list(sus["image"])[0] == 4 and list(sus["suggested"])[0] == "cat" and list(sus["given"])[0] == "dog"
    assert 5 not in list(sus["image"])  # 0.55 is below class 0's threshold
    assert abs(sus["margin"][0] - 0.94) < 1e-12 and bool(sus["strong"][0])
    assert list(sus["rank"]) == list(range(1, len(sus) + 1))
    assert (np.diff(sus["margin"]) <= 0).all()
