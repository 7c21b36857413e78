"""Data sources, detected from what a path contains, each returning an ImageSet of uint8 RGB images.

- `demo`: the embedded procedural world (engine.demo);
- an arrays folder: test_images.npy, test_fine_labels.npy, optional test_coarse_labels.npy, meta.json;
- a torchvision CIFAR-100 root (cifar-100-python/ with test and meta), read by torchvision's class;
- an ImageFolder directory (one sub-folder per class).

Large sources are not read here: an arrays folder's images stay in their .npy file and an ImageFolder's
in their files (engine.lazy_images); the pass reads them batch by batch through a DataLoader. With a
Preprocess (--image-size / --weights) every source is resized and center-cropped as it is read.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import UserError
from engine.imageset import ImageSet
from engine.lazy_images import FolderImages, NpyImages, TransformedImages

if TYPE_CHECKING:
    from engine.preprocess import Preprocess

EXPECTED = (
    "expected an arrays folder (test_images.npy, test_fine_labels.npy, meta.json), a CIFAR-100 root "
    "(cifar-100-python/ with test and meta), an ImageFolder directory (one sub-folder of images per class), "
    "or 'demo'"
)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def load_data(spec: str, download: bool = False, preprocess: "Preprocess | None" = None) -> ImageSet:
    """Detect the source type from the path's contents and open it (resized and cropped with preprocess)."""
    data = _open(spec, download, preprocess)
    if preprocess is not None and not isinstance(data.images, FolderImages):  # ImageFolder resizes PIL images itself
        data = dataclasses.replace(data, images=TransformedImages(data.images, preprocess), masks=None)
    return data


def _open(spec: str, download: bool, preprocess: "Preprocess | None") -> ImageSet:
    if spec == "demo":
        from engine.demo.world import make_world

        return make_world("test")
    path = Path(spec).expanduser()
    if download and not _cifar_root(path):
        return _load_cifar100(path, download=True)
    if not path.exists():
        raise UserError(f"No data at {path}: {EXPECTED}.")
    if not path.is_dir():
        raise UserError(f"{path} is a file; {EXPECTED}.")
    if (path / "test_images.npy").exists():
        return _load_arrays(path)
    if _cifar_root(path):
        return _load_cifar100(_cifar_root(path), download=False)  # type: ignore[arg-type]
    subdirs = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if subdirs and any(_has_images(d) for d in subdirs):
        return _load_image_folder(path, preprocess)
    raise UserError(f"Found no data set in {path}: {EXPECTED}.")


def _cifar_root(path: Path) -> Path | None:
    """The folder that holds cifar-100-python/, whether given it or the cifar-100-python folder itself."""
    if (path / "cifar-100-python" / "test").exists():
        return path
    if path.name == "cifar-100-python" and (path / "test").exists():
        return path.parent
    return None


def _has_images(folder: Path) -> bool:
    return any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir() if f.is_file())


def _load_arrays(path: Path) -> ImageSet:
    meta_path = path / "meta.json"
    labels_path = path / "test_fine_labels.npy"
    for required in (labels_path, meta_path):
        if not required.exists():
            raise UserError(f"{path} has test_images.npy but no {required.name}; {EXPECTED}.")
    images = NpyImages(path / "test_images.npy")  # read batch by batch during the pass
    try:
        labels = np.load(labels_path, allow_pickle=False).astype(np.int64)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise UserError(f"Could not read the arrays in {path}: {exc}.") from None
    names = meta.get("fine_label_names") or meta.get("class_names")
    if not names:
        raise UserError(f"{meta_path} has no 'fine_label_names' (or 'class_names') list.")
    coarse_names = meta.get("coarse_label_names")
    fine_to_coarse = meta.get("fine_to_coarse")
    c2s = None
    if coarse_names and fine_to_coarse is not None:
        c2s = np.asarray(fine_to_coarse, dtype=np.int64)
    elif coarse_names and (path / "test_coarse_labels.npy").exists():
        coarse = np.load(path / "test_coarse_labels.npy", allow_pickle=False).astype(np.int64)
        c2s = _fine_to_coarse(labels, coarse, len(names))
    return _checked(
        ImageSet(images, labels, [str(n) for n in names], f"arrays:{path}", coarse_names, c2s), path
    )


def _fine_to_coarse(fine: np.ndarray, coarse: np.ndarray, n: int) -> np.ndarray:
    table = np.full(n, -1, dtype=np.int64)
    table[fine] = coarse
    if (table < 0).any():
        table[table < 0] = 0
    return table


def _load_cifar100(root: Path, download: bool) -> ImageSet:
    from torchvision.datasets import CIFAR100

    try:
        ds = CIFAR100(root=str(root), train=False, download=download)
    except RuntimeError as exc:
        raise UserError(f"CIFAR-100 at {root} could not be read: {exc}") from None
    except OSError as exc:
        raise UserError(f"CIFAR-100 at {root} could not be read or downloaded: {exc}.") from None
    images = np.asarray(ds.data, dtype=np.uint8)
    labels = np.asarray(ds.targets, dtype=np.int64)
    coarse_names, c2s = _cifar_coarse(Path(root) / "cifar-100-python", labels, len(ds.classes))
    return _checked(ImageSet(images, labels, list(ds.classes), f"cifar100:{root}", coarse_names, c2s), Path(root))


def _cifar_coarse(folder: Path, fine: np.ndarray, n: int) -> tuple[list[str] | None, np.ndarray | None]:
    """Superclasses from the official pickles (torchvision's class reads only the fine labels)."""
    try:
        with open(folder / "meta", "rb") as fh:
            meta = pickle.load(fh, encoding="latin1")  # the data set's own format, as torchvision reads it
        with open(folder / "test", "rb") as fh:
            test = pickle.load(fh, encoding="latin1")
        coarse = np.asarray(test["coarse_labels"], dtype=np.int64)
        return list(meta["coarse_label_names"]), _fine_to_coarse(fine, coarse, n)
    except (OSError, KeyError, pickle.UnpicklingError, EOFError):
        return None, None


def _load_image_folder(path: Path, preprocess: "Preprocess | None") -> ImageSet:
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(str(path))
    except (FileNotFoundError, RuntimeError) as exc:
        raise UserError(f"ImageFolder {path}: {exc}") from None
    if not ds.samples:
        raise UserError(f"ImageFolder {path} has class folders but no images in them.")
    images = FolderImages([file for file, _ in ds.samples], preprocess)  # decoded batch by batch during the pass
    labels = np.asarray([t for _, t in ds.samples], dtype=np.int64)
    return _checked(ImageSet(images, labels, list(ds.classes), f"imagefolder:{path}"), path)


def _checked(data: ImageSet, path: Path) -> ImageSet:
    imgs = data.images
    if imgs.ndim != 4 or imgs.shape[-1] != 3:
        raise UserError(f"Images in {path} have shape {imgs.shape}; expected N x H x W x 3 (RGB).")
    if imgs.dtype != np.uint8:
        raise UserError(f"Images in {path} are {imgs.dtype}; expected uint8 (0-255).")
    if data.labels.shape != (imgs.shape[0],):
        raise UserError(f"{path} has {imgs.shape[0]} images but {data.labels.shape[0]} labels.")
    if len(data) == 0:
        raise UserError(f"{path} holds no images.")
    lo, hi = int(data.labels.min()), int(data.labels.max())
    if lo < 0 or hi >= data.num_classes:
        raise UserError(f"Labels in {path} range over {lo}..{hi}, but there are {data.num_classes} class names.")
    return data
