"""`gradcam-batch compare OLD NEW`: deltas that agree with each run's own per-class table."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cache import save_cache
from engine.compare import compare
from engine.errors import UserError
from tests.synthetic import cured_copy, synthetic_cache

ROOT = Path(__file__).resolve().parents[1]


def test_deltas_match_the_two_per_class_tables():
    old = synthetic_cache()
    new, n_fixed = cured_copy(old)
    cmp = compare(old, new)
    np.testing.assert_allclose(cmp.per_class.accuracy_old, old.analysis.per_class.accuracy)
    np.testing.assert_allclose(cmp.per_class.accuracy_new, new.analysis.per_class.accuracy)
    assert cmp.per_class.loc[1, "fixed"] == n_fixed and cmp.summary["broken"] == 0
    assert (cmp.images.status == "fixed").sum() == n_fixed
    assert cmp.summary["top1_new"] > cmp.summary["top1_old"]


def test_other_test_sets_are_refused():
    old = synthetic_cache()
    with pytest.raises(UserError, match="not on the same test set"):
        compare(old, synthetic_cache(n_per_class=10))
    other_pixels = dataclasses.replace(old, images=old.images[::-1].copy(), _analysis=None)
    with pytest.raises(UserError, match="different images"):
        compare(old, other_pixels)


def test_compare_command_writes_and_prints(tmp_path):
    old = synthetic_cache()
    new, _ = cured_copy(old)
    a, b = save_cache(old, tmp_path / "old.npz"), save_cache(new, tmp_path / "new.npz")
    proc = subprocess.run([sys.executable, "-m", "engine", "compare", str(a), str(b), "--out", str(tmp_path / "cmp")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Images fixed:" in proc.stdout
    table = pd.read_csv(tmp_path / "cmp" / "compare_per_class.csv")
    assert len(table) == old.num_classes and {"delta", "fixed", "broken"} <= set(table.columns)
