"""`gradcam-batch compare OLD NEW`: deltas that agree with each run's own per-class files; runs on other
test sets are refused with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.store import save_cache
from tests.synthetic import cured_copy


def test_compare_command_writes_and_prints(tmp_path, make_cache, cli):
    old = make_cache()
    new, n_fixed = cured_copy(old)
    a, b = save_cache(old, tmp_path / "old.npz"), save_cache(new, tmp_path / "new.npz")
    outcome = cli("compare", a, b, "--out", tmp_path / "cmp").completed()
    assert f"Images fixed: {n_fixed}, broken: 0 (net +{n_fixed})" in outcome.out
    assert f"Comparison: {a} -> {b}" in outcome.out
    table = pd.read_csv(tmp_path / "cmp" / "compare_per_class.csv")
    assert len(table) == old.num_classes and {"delta", "fixed", "broken"} <= set(table.columns)
    assert table["fixed"].sum() == n_fixed and table.loc[1, "fixed"] == n_fixed
    images = pd.read_csv(tmp_path / "cmp" / "compare_images.csv")
    assert len(images) == n_fixed and set(images["status"]) == {"fixed"}


def test_runs_on_other_test_sets_are_refused(tmp_path, make_cache, cli):
    a = save_cache(make_cache(n_per_class=50, num_classes=10), tmp_path / "a.npz")
    b = save_cache(make_cache(n_per_class=40, num_classes=10), tmp_path / "b.npz")
    cli("compare", a, b, "--out", tmp_path / "cmp").refused(
        "The two caches are not on the same test set (500 vs 400 images); compare two runs of the same data set.")
    assert not (tmp_path / "cmp").exists()


def test_compare_resnet20_to_resnet56_matches_their_per_class_csvs(cifar_run, tmp_path, batch):
    (p20, old), (p56, new) = cifar_run(20), cifar_run(56)
    assert p20.returncode == 0 and p56.returncode == 0
    proc = batch("compare", old / "cache.npz", new / "cache.npz", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Top-1 accuracy: 68.83% -> 72.63% (+3.80 points)" in proc.stdout
    deltas = pd.read_csv(tmp_path / "compare_per_class.csv")
    before = pd.read_csv(old / "per_class_accuracy.csv")
    after = pd.read_csv(new / "per_class_accuracy.csv")
    np.testing.assert_allclose(deltas["delta"], after["accuracy"] - before["accuracy"], atol=1e-6)
    assert (deltas["fixed"] - deltas["broken"]).sum() == 7263 - 6883
