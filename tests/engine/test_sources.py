"""Data in (engine.sources): sources detected from what a path holds, read lazily batch by batch through the
DataLoader, resized and cropped exactly as torchvision does; a wrong path says what was expected there."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import UserError
from engine.gradcam.one_pass import to_model_input
from engine.gradcam.shards import batch_ranges
from engine.sources import open_source
from engine.sources.lazy import NpyImages, TransformedImages
from engine.sources.loader import iterate_batches
from engine.sources.preprocess import from_image_size, from_weights
from tests.conftest import need_shared


def test_shared_arrays_folder():
    shared = need_shared()
    data = open_source(str(shared / "cifar100"))
    assert data.images.shape == (10000, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.num_classes == 100 and len(data.superclass_names) == 20
    assert data.class_names[:2] == ["apple", "aquarium_fish"]
    coarse = np.load(shared / "cifar100" / "test_coarse_labels.npy")
    np.testing.assert_array_equal(data.class_to_superclass[data.labels], coarse)


def test_small_arrays_folder(tmp_path, arrays_folder):
    data = open_source(str(arrays_folder(tmp_path / "a", n=6, size=8, classes=["cat", "dog", "fox"])))
    assert data.class_names == ["cat", "dog", "fox"] and len(data) == 6 and data.superclass_names is None
    assert data.labels.tolist() == [0, 1, 2, 0, 1, 2]


def test_labels_out_of_range_are_refused(tmp_path, arrays_folder):
    folder = arrays_folder(tmp_path / "a", n=6, size=8, classes=["cat", "dog", "fox"],
                           labels=np.array([0, 1, 2, 3, 0, 1]))
    with pytest.raises(UserError, match=r"range over 0..3, but there are 3 class names"):
        open_source(str(folder))


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
    data = open_source(str(root))
    assert data.class_names == ["apple", "bee"] and data.superclass_names == ["insects", "fruit"]
    assert data.class_to_superclass.tolist() == [1, 0]
    np.testing.assert_array_equal(data.images[0], flat[0].reshape(3, 32, 32).transpose(1, 2, 0))


def test_image_folder(tmp_path):
    for cls in ("ant", "bee"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    data = open_source(str(tmp_path / "imgs"))
    assert data.class_names == ["ant", "bee"] and data.images.shape == (4, 16, 16, 3)
    assert data.labels.tolist() == [0, 0, 1, 1]
    assert np.asarray(data.images[1]).max() == 40


@pytest.mark.parametrize("setup, expected", [("missing", "No data at"), ("empty", "Found no data set in"),
                                             ("file", "is a file")], ids=["missing", "empty", "file"])
def test_wrong_path_says_what_was_expected(tmp_path, setup, expected):
    target = tmp_path / "data"
    if setup == "empty":
        target.mkdir()
    elif setup == "file":
        target.write_text("x")
    with pytest.raises(UserError, match=f"{expected}.*expected an arrays folder"):
        open_source(str(target))


def test_an_empty_data_spec_is_refused():
    with pytest.raises(UserError, match="--data is empty; expected an arrays folder"):
        open_source("")


def test_a_named_source_is_opened_by_name(monkeypatch):
    from engine import sources
    from engine.sources.imageset import ImageSet

    world = ImageSet(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1]), ["a", "b"], "registered")
    monkeypatch.setitem(sources.NAMED_SOURCES, "world", lambda: world)
    assert open_source("world") is world
    resized = open_source("world", preprocess=from_image_size(8))
    assert isinstance(resized.images, TransformedImages) and resized.images.shape == (2, 8, 8, 3)


# --- read batch by batch, resized as torchvision does -------------------------------------------------------


def _normalised(images: np.ndarray, mean, std) -> torch.Tensor:
    """What the engine feeds the model for these uint8 images."""
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    return to_model_input(images, m, s, torch.device("cpu")).contiguous()


def _through_the_loader(data, display_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    got = list(iterate_batches(data.images, data.labels, batch_ranges(len(data), 3), display_size=display_size,
                               workers=1, pin_memory=False))
    assert [g[0] for g in got] == [a for a, _ in batch_ranges(len(data), 3)]
    return np.concatenate([g[1].numpy() for g in got]), np.concatenate([g[2] for g in got])


def test_weights_transforms_on_an_image_folder_give_torchvisions_tensors(tmp_path):
    from torchvision.datasets import ImageFolder
    from torchvision.models import get_weight

    rng = np.random.default_rng(0)
    for c, sizes in (("ant", [(300, 260), (180, 240)]), ("bee", [(240, 320), (257, 255)])):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.jpg")
    name = "ResNet50_Weights.IMAGENET1K_V2"  # resize 232, crop 224
    pre = from_weights(name)
    data = open_source(str(tmp_path / "imgs"), preprocess=pre)
    images, display = _through_the_loader(data)
    assert images.shape == (4, 224, 224, 3) and display.shape == (4, 128, 128, 3)
    reference = ImageFolder(str(tmp_path / "imgs"), transform=get_weight(name).transforms())
    expected = torch.stack([reference[i][0] for i in range(len(reference))])
    assert [t for _, t in reference.samples] == data.labels.tolist()
    torch.testing.assert_close(_normalised(images, pre.mean, pre.std), expected, atol=1e-6, rtol=0)


def test_image_size_on_an_arrays_folder_gives_torchvisions_tensors(tmp_path, arrays_folder):
    from torchvision.transforms._presets import ImageClassification

    raw = np.random.default_rng(1).integers(0, 255, (7, 40, 50, 3), dtype=np.uint8)
    data = open_source(str(arrays_folder(tmp_path / "a", images=raw, classes=["c0", "c1", "c2"])),
                       preprocess=from_image_size(32))
    assert isinstance(data.images, TransformedImages) and data.images.shape == (7, 32, 32, 3)
    images, display = _through_the_loader(data)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    tv = ImageClassification(crop_size=32, resize_size=37, mean=mean, std=std)  # 37 = round(32 * 256 / 224)
    expected = torch.stack([tv(torch.from_numpy(im).permute(2, 0, 1)) for im in raw])
    torch.testing.assert_close(_normalised(images, mean, std), expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(display, images)  # 32 px: stored as the model sees it


def test_arrays_are_read_from_the_file_batch_by_batch(tmp_path, arrays_folder):
    raw = np.random.default_rng(2).integers(0, 255, (11, 8, 6, 3), dtype=np.uint8)
    data = open_source(str(arrays_folder(tmp_path / "a", images=raw, classes=["c0", "c1", "c2"])))
    assert isinstance(data.images, NpyImages)
    head = data.head(9)
    assert head.images.shape == (9, 8, 6, 3) and len(head) == 9
    np.testing.assert_array_equal(np.asarray(head.images[2:7]), raw[2:7])
    np.testing.assert_array_equal(data.images[-1], raw[-1])
    images, _ = _through_the_loader(data)
    np.testing.assert_array_equal(images, raw)


def test_image_folder_of_mixed_sizes_needs_image_size(tmp_path):
    for i, size in enumerate([(16, 16), (16, 16), (20, 16)]):
        (tmp_path / "imgs" / "a").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(tmp_path / "imgs" / "a" / f"{i}.png")
    data = open_source(str(tmp_path / "imgs"))
    with pytest.raises(UserError, match=r"2.png is 16x20 but the first image is 16x16; pass --image-size"):
        list(iterate_batches(data.images, data.labels, [(0, 3)], display_size=128, workers=1, pin_memory=False))
