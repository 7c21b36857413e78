"""Shared fixtures: a synthetic cache on disk, and paths to ../shared when it exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cache import save_cache
from tests.synthetic import synthetic_cache

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def small_cache():
    return synthetic_cache()


@pytest.fixture
def small_cache_file(tmp_path, small_cache) -> Path:
    return save_cache(small_cache, tmp_path / "cache.npz")


def need_shared() -> Path:
    """../shared, or skip with the reason."""
    if not (SHARED / "cifar100" / "test_images.npy").exists():
        pytest.skip("../shared (CIFAR-100 test split and checkpoints) is not present on this machine")
    return SHARED
