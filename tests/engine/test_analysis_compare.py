"""Two runs on the same test set (engine.analysis.compare): deltas that agree with each run's own per-class
table, images fixed and broken; other test sets are refused with the reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.analysis.compare import compare, not_comparable
from engine.errors import UserError
from tests.synthetic import cured_copy


def test_deltas_match_the_two_per_class_tables(make_cache, make_run):
    old = make_cache()
    new, n_fixed = cured_copy(old)
    old_run, new_run = make_run(old), make_run(new)
    cmp = compare(old_run, new_run)
    np.testing.assert_allclose(cmp.per_class["accuracy_old"], old_run.metrics.per_class["accuracy"])
    np.testing.assert_allclose(cmp.per_class["accuracy_new"], new_run.metrics.per_class["accuracy"])
    np.testing.assert_allclose(cmp.per_class["delta"], cmp.per_class["accuracy_new"] - cmp.per_class["accuracy_old"])
    assert cmp.per_class["fixed"][1] == n_fixed and cmp.summary["broken"] == 0 and cmp.summary["fixed"] == n_fixed
    assert list(cmp.images["status"]).count("fixed") == n_fixed == len(cmp.images)
    assert set(cmp.images["class_name"]) == {old.class_names[1]}
    assert cmp.summary["top1_new"] > cmp.summary["top1_old"]
    assert cmp.summary["top1_new"] == new_run.metrics.top1 and cmp.summary["ece_old"] == old_run.calibration.ece


def test_other_test_sets_are_refused(make_cache, make_run):
    old = make_cache(n_per_class=50, num_classes=10)
    with pytest.raises(UserError, match=r"not on the same test set \(500 vs 400 images\); compare two runs"):
        compare(make_run(old), make_run(n_per_class=40, num_classes=10))
    relabelled = dataclasses.replace(old, labels=old.labels[::-1].copy())
    assert "(other labels)" in not_comparable(old, relabelled)
    renamed = dataclasses.replace(old, class_names=[f"x{c}" for c in range(10)])
    assert not_comparable(old, renamed) == ("The two caches use different class names; compare runs of the same "
                                            "data set.")
    other_pixels = dataclasses.replace(old, images=old.images[::-1].copy())
    assert not_comparable(old, other_pixels) is None  # the cheap checks pass ...
    with pytest.raises(UserError, match="different images"):  # ... the pixels do not
        compare(make_run(old), make_run(other_pixels))
