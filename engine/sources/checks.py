"""What every source's ImageSet must satisfy before the pass starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.sources.imageset import ImageSet


def checked(data: ImageSet, path: Path) -> ImageSet:
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
