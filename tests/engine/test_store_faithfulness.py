"""The --faithfulness members in the cache: written and read back in both forms, checked on load."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import CacheError
from engine.store import load_cache, save_cache
from tests.synthetic import synthetic_cache


def _with_faithfulness(steps: int = 4):
    c = synthetic_cache(n_per_class=3, num_classes=4, k=3)
    n = c.num_images
    c.faith_deletion = np.full((n, steps + 1), np.nan, np.float32)
    c.faith_insertion = np.full((n, steps + 1), np.nan, np.float32)
    c.faith_masked = np.full(n, np.nan, np.float32)
    c.sanity_randomised_corr = np.full(n, np.nan, np.float32)
    c.faith_deletion[::2] = 0.5
    c.faith_insertion[::2] = 0.25
    c.faith_masked[::2] = 0.4
    c.sanity_randomised_corr[1::2] = 0.1
    return c


@pytest.mark.parametrize("name", ["cache.npz", "cache"])
def test_faithfulness_members_round_trip(tmp_path, name):
    c = _with_faithfulness()
    loaded = load_cache(save_cache(c, tmp_path / name))
    for member in ("faith_deletion", "faith_insertion", "faith_masked", "sanity_randomised_corr"):
        np.testing.assert_array_equal(getattr(loaded, member), getattr(c, member))


@pytest.mark.parametrize("break_it", [
    lambda c: setattr(c, "faith_insertion", c.faith_insertion[:, :3]),  # curves of different lengths
    lambda c: setattr(c, "faith_masked", None),  # curves without the masked probability
    lambda c: setattr(c, "faith_deletion", c.faith_deletion[:-1]),  # not one row per image
    lambda c: setattr(c, "sanity_randomised_corr", np.zeros((c.num_images, 2), np.float32)),
])
def test_inconsistent_faithfulness_members_are_one_sentence(tmp_path, break_it):
    c = _with_faithfulness()
    break_it(c)
    path = tmp_path / "cache.npz"
    try:
        save_cache(c, path)
    except ValueError:
        pytest.skip("the writer itself refuses this shape")
    with pytest.raises(CacheError, match="not a valid gradcam cache"):
        load_cache(path)
