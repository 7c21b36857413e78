"""An ImageFolder directory: one sub-folder of images per class, decoded (and resized) batch by batch.

Classes are the sub-folders in sorted order and an image's label is its class folder, as torchvision's
ImageFolder has them, so a model trained on an ImageFolder sees the same class indices. The folders are
walked here rather than by torchvision: symbolic links are followed (a class folder may be a link into a
data set elsewhere), but a folder already walked is not walked again, so a link loop (`cat/again -> cat`)
does not count its images dozens of times. Hidden files and folders (`.ipynb_checkpoints`, `._x.png`) are
not data. A class folder without images is a class with no test images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import UserError
from engine.sources.checks import checked
from engine.sources.imageset import ImageSet
from engine.sources.lazy import FolderImages

if TYPE_CHECKING:
    from engine.sources.preprocess import Preprocess

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def _visible(name: str) -> bool:
    return not name.startswith(".")


def class_folders(path: Path) -> list[str]:
    """The class folders' names, sorted (hidden folders are not classes)."""
    return sorted(e.name for e in os.scandir(path) if _visible(e.name) and e.is_dir())


def has_images(folder: Path) -> bool:
    return any(f.suffix.lower() in IMAGE_SUFFIXES and _visible(f.name) for f in folder.iterdir() if f.is_file())


def is_image_folder(path: Path) -> bool:
    return any(has_images(path / d) for d in class_folders(path))


def image_files(folder: Path) -> list[str]:
    """Every image under `folder`, sorted as torchvision's ImageFolder sorts them, each folder walked once
    however many links lead to it."""
    found: list[tuple[str, list[str]]] = []
    walked: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in walked:
            dirs[:] = []  # a link back to a folder already walked: neither it nor what is below it again
            continue
        walked.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if _visible(d)]
        found.append((root, sorted(f for f in files if _visible(f) and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES)))
    return [os.path.join(root, f) for root, names in sorted(found) for f in names]


def open_image_folder(path: Path, preprocess: "Preprocess | None") -> ImageSet:
    try:
        classes = class_folders(path)
        per_class = [image_files(path / c) for c in classes]
    except OSError as exc:
        raise UserError(f"ImageFolder {path} could not be read: {exc.strerror or exc}.") from None
    files = [f for images in per_class for f in images]
    if not files:
        raise UserError(f"ImageFolder {path} has class folders but no images in them.")
    images = FolderImages(files, preprocess)  # decoded batch by batch during the pass
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(found) for found in per_class])
    return checked(ImageSet(images, labels, classes, f"imagefolder:{path}"), path)
