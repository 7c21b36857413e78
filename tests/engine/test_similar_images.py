"""Similar images and near-duplicates from the pooled features (engine.analysis.similar_images): a planted
copy is found, the blocked search equals the whole matrix, the nearest are the most similar, and the report
writes near_duplicates.csv."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.similar_images import DUPLICATE_COSINE, near_duplicates, nearest, unit_features
from engine.models.cifar_resnet import cifar_resnet
from tests.synthetic import synthetic_cache


def _features(n=600, k=64, seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(0.5, 1.0, (n, k)), 0).astype(np.float32)  # after a ReLU, as the layer's


def test_a_planted_duplicate_is_the_pair_found_and_the_nearest_image():
    f = _features()
    f[417] = f[12] * 1.02 + 0.01  # image 12 again, a little brighter
    u = unit_features(f)
    d = near_duplicates(u, block=128)
    assert (int(d.a[0]), int(d.b[0])) == (12, 417) and d.cosine[0] > 0.99
    assert len(d) == d.total == 1  # independent images stay below the threshold
    idx, cos = nearest(u, 12, k=5)
    assert idx[0] == 417 and 12 not in idx and (np.diff(cos) <= 0).all()
    sims = u @ u[12]
    sims[12] = -np.inf
    assert list(idx) == list(np.argsort(-sims, kind="stable")[:5])


def test_the_blocked_search_finds_every_pair_the_whole_matrix_has():
    rng = np.random.default_rng(1)
    base = _features(300, 16, seed=2)
    f = np.concatenate([base, base[:40] + rng.normal(0, 0.02, (40, 16)).astype(np.float32)])  # 40 copies
    u = unit_features(f)
    threshold = 0.9
    full = u @ u.T
    want = {(a, b) for a, b in zip(*np.nonzero(full >= threshold)) if a < b}
    for block in (7, 64, 1000):
        d = near_duplicates(u, threshold, block=block)
        assert {(int(a), int(b)) for a, b in zip(d.a, d.b)} == want and d.total == len(want) >= 40
        assert (np.diff(d.cosine) <= 0).all()
    capped = near_duplicates(u, threshold, block=64, max_pairs=5)
    assert len(capped) == 5 and capped.total == len(want)
    np.testing.assert_allclose(capped.cosine, np.sort(full[np.triu_indices(len(u), 1)])[::-1][:5], rtol=1e-5)


def test_a_copied_test_image_is_found_through_the_pass(analyse_model):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    x[21] = np.clip(x[5].astype(int) + 3, 0, 255)  # image 5, re-encoded a shade lighter
    run, _ = analyse_model(cifar_resnet(20, 10).eval(), x, rng.integers(0, 10, 30), "layer3", batch_size=8,
                           mean=(0.5,) * 3, std=(0.25,) * 3, num_classes=10)
    assert run.cache.features.shape == (30, 64) and run.cache.features.dtype == np.float16
    d = run.near_duplicates
    assert (int(d.a[0]), int(d.b[0])) == (5, 21) and d.cosine[0] >= DUPLICATE_COSINE
    assert nearest(run.unit_features, 21, 3)[0][0] == 5


def test_the_report_lists_the_pairs_in_near_duplicates_csv(tmp_path):
    from engine.reports.diagnosis import write_near_duplicates_csv
    from engine.reports.writer import plan

    c = synthetic_cache()
    f = _features(c.num_images, 32)
    f[50] = f[3]
    run = AnalysedRun(dataclasses.replace(c, features=f.astype(np.float16)))
    assert ("near_duplicates_csv", 0) in plan(run) and ("near_duplicates_csv", 0) not in plan(AnalysedRun(c))
    df = pd.read_csv(write_near_duplicates_csv(run, tmp_path / "near_duplicates.csv"))
    assert list(df.columns) == ["rank", "image_a", "image_b", "cosine", "true_a", "true_b", "predicted_a",
                                "predicted_b", "same_label"]
    row = df.iloc[0]
    assert (row.image_a, row.image_b, row["rank"]) == (3, 50, 1) and row.cosine > 0.999
    assert row.true_a == c.class_names[c.labels[3]] and row.same_label == (c.labels[3] == c.labels[50])


def test_a_test_set_too_large_for_every_pair_is_not_searched(monkeypatch):
    import engine.analysis.similar_images as sim
    from engine.reports.writer import plan
    from tui.slices import DUPLICATES, SIMILAR, SliceSpec, check

    c = synthetic_cache()
    run = AnalysedRun(dataclasses.replace(c, features=_features(c.num_images, 32).astype(np.float16)))
    monkeypatch.setattr(sim, "MAX_IMAGES", c.num_images - 1)
    assert run.near_duplicates is None and ("near_duplicates_csv", 0) not in plan(run)
    assert "searched for in test sets of up to" in check(run, SliceSpec(DUPLICATES))
    assert check(run, SliceSpec(SIMILAR, 0)) is None  # one image's nearest: still
