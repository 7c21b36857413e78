"""An ImageFolder directory: one sub-folder of images per class, decoded (and resized) batch by batch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import UserError
from engine.sources.checks import checked
from engine.sources.imageset import ImageSet
from engine.sources.lazy import FolderImages

if TYPE_CHECKING:
    from engine.sources.preprocess import Preprocess

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def has_images(folder: Path) -> bool:
    return any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir() if f.is_file())


def is_image_folder(path: Path) -> bool:
    subdirs = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    return bool(subdirs) and any(has_images(d) for d in subdirs)


def open_image_folder(path: Path, preprocess: "Preprocess | None") -> ImageSet:
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(str(path))
    except (FileNotFoundError, RuntimeError) as exc:
        raise UserError(f"ImageFolder {path}: {exc}") from None
    if not ds.samples:
        raise UserError(f"ImageFolder {path} has class folders but no images in them.")
    images = FolderImages([file for file, _ in ds.samples], preprocess)  # decoded batch by batch during the pass
    labels = np.asarray([t for _, t in ds.samples], dtype=np.int64)
    return checked(ImageSet(images, labels, list(ds.classes), f"imagefolder:{path}"), path)
