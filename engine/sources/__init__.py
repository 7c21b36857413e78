"""Data in: every kind of test set as one ImageSet of uint8 RGB images, detected from what a path holds.

    open_source(spec, download, preprocess) -> ImageSet
    register_named_source(name, opener)     a source known by name instead of a path (the demo world)

- an arrays folder (arrays.py): test_images.npy, test_fine_labels.npy, optional test_coarse_labels.npy, meta.json;
- a torchvision CIFAR-100 root (cifar.py): cifar-100-python/ with test and meta;
- an ImageFolder directory (image_folder.py): one sub-folder per class.

Large sources are not read here: an arrays folder's images stay in their .npy file and an ImageFolder's in
their files (lazy.py); the pass reads them batch by batch through a DataLoader (loader.py). With a
Preprocess (--image-size / --weights, preprocess.py) every source is resized and center-cropped as it is read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from engine.errors import UserError
from engine.sources.arrays import is_arrays_folder, open_arrays
from engine.sources.cifar import cifar_root, open_cifar100
from engine.sources.image_folder import is_image_folder, open_image_folder
from engine.sources.imageset import ImageSet
from engine.sources.lazy import FolderImages, TransformedImages

if TYPE_CHECKING:
    from engine.sources.preprocess import Preprocess

EXPECTED = (
    "expected an arrays folder (test_images.npy, test_fine_labels.npy, meta.json), a CIFAR-100 root "
    "(cifar-100-python/ with test and meta), an ImageFolder directory (one sub-folder of images per class), "
    "or 'demo'"
)
NAMED_SOURCES: dict[str, Callable[[], ImageSet]] = {}


def register_named_source(name: str, opener: Callable[[], ImageSet]) -> None:
    """Let `--data NAME` open `opener()` (the demo registers its world this way)."""
    NAMED_SOURCES[name] = opener


def open_source(spec: str, download: bool = False, preprocess: "Preprocess | None" = None) -> ImageSet:
    """Detect the source type from the path's contents and open it (resized and cropped with preprocess)."""
    data = _open(spec, download, preprocess)
    if preprocess is not None and not isinstance(data.images, FolderImages):  # ImageFolder resizes PIL images itself
        data = dataclasses.replace(data, images=TransformedImages(data.images, preprocess), masks=None)
    return data


def _open(spec: str, download: bool, preprocess: "Preprocess | None") -> ImageSet:
    if spec in NAMED_SOURCES:
        return NAMED_SOURCES[spec]()
    if not spec:
        raise UserError(f"--data is empty; {EXPECTED}.")
    try:
        path = Path(spec).expanduser()
    except RuntimeError:  # `~nouser/...`
        raise UserError(f"--data {spec}: {spec.split('/')[0]} is not a user on this machine, so it has no home "
                        "folder to start from.") from None
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long for the file system
        raise UserError(f"--data {path} cannot be looked up: {(exc.strerror or type(exc).__name__).lower()}.") from None
    if download and not cifar_root(path):
        return open_cifar100(path, download=True)
    if not exists:
        raise UserError(f"No data at {path}: {EXPECTED}.")
    if not is_dir:
        raise UserError(f"{path} is a file; {EXPECTED}.")
    if is_arrays_folder(path):
        return open_arrays(path)
    root = cifar_root(path)
    if root is not None:
        return open_cifar100(root, download=False)
    if is_image_folder(path):
        return open_image_folder(path, preprocess)
    raise UserError(f"Found no data set in {path}: {EXPECTED}.")
