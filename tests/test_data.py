"""Data sources are detected from what a path contains; a wrong path says what was expected there."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from engine.data import load_data
from engine.errors import UserError
from tests.conftest import need_shared


def test_shared_arrays_folder():
    shared = need_shared()
    data = load_data(str(shared / "cifar100"))
    assert data.images.shape == (10000, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.num_classes == 100 and len(data.superclass_names) == 20
    assert data.class_names[:2] == ["apple", "aquarium_fish"]
    coarse = np.load(shared / "cifar100" / "test_coarse_labels.npy")
    np.testing.assert_array_equal(data.class_to_superclass[data.labels], coarse)


def _arrays(folder, n=6, classes=("cat", "dog", "fox")):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / "test_images.npy", rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8))
    np.save(folder / "test_fine_labels.npy", np.arange(n) % len(classes))
    (folder / "meta.json").write_text(json.dumps({"fine_label_names": list(classes)}))
    return folder


def test_small_arrays_folder(tmp_path):
    data = load_data(str(_arrays(tmp_path / "a")))
    assert data.class_names == ["cat", "dog", "fox"] and len(data) == 6 and data.superclass_names is None


def test_labels_out_of_range_are_refused(tmp_path):
    folder = _arrays(tmp_path / "a")
    np.save(folder / "test_fine_labels.npy", np.array([0, 1, 2, 3, 0, 1]))
    with pytest.raises(UserError, match=r"range over 0..3, but there are 3 class names"):
        load_data(str(folder))


def test_cifar100_root_read_with_torchvision(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR100

    root = tmp_path / "cifar"
    (root / "cifar-100-python").mkdir(parents=True)
    rng = np.random.default_rng(1)
    flat = rng.integers(0, 255, (4, 3072), dtype=np.uint8)
    with open(root / "cifar-100-python" / "test", "wb") as fh:
        pickle.dump({"data": flat, "fine_labels": [0, 1, 1, 0], "coarse_labels": [1, 0, 0, 1]}, fh)
    with open(root / "cifar-100-python" / "meta", "wb") as fh:
        pickle.dump({"fine_label_names": ["apple", "bee"], "coarse_label_names": ["insects", "fruit"]}, fh)
    import torchvision.datasets.cifar as tv_cifar

    # our tiny stand-in has other md5s than the official archive
    monkeypatch.setattr(CIFAR100, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    data = load_data(str(root))
    assert data.class_names == ["apple", "bee"] and data.superclass_names == ["insects", "fruit"]
    assert data.class_to_superclass.tolist() == [1, 0]
    np.testing.assert_array_equal(data.images[0], flat[0].reshape(3, 32, 32).transpose(1, 2, 0))


def test_image_folder(tmp_path):
    for cls in ("ant", "bee"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    data = load_data(str(tmp_path / "imgs"))
    assert data.class_names == ["ant", "bee"] and data.images.shape == (4, 16, 16, 3)
    assert data.labels.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("setup", ["missing", "empty", "file"])
def test_wrong_path_says_what_was_expected(tmp_path, setup):
    target = tmp_path / "data"
    if setup == "empty":
        target.mkdir()
    elif setup == "file":
        target.write_text("x")
    with pytest.raises(UserError, match="expected an arrays folder"):
        load_data(str(target))
