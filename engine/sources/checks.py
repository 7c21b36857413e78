"""What every source's ImageSet must satisfy before the pass starts, and labels read from files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.sources.imageset import ImageSet
from engine.store.names import unicode_name

LARGEST_LABEL = 2**53  # above this a float cannot name one integer, and no data set has that many classes


def integer_labels(raw: np.ndarray, path: Path, what: str = "labels") -> np.ndarray:
    """Labels as int64 (N,). Integer arrays are taken as they are; float arrays only when every value is a
    whole number (69.7 is refused, not read as class 69); NaN, infinities, booleans, strings and any shape
    but one label per image are refused, each with a sentence that says what the file holds."""
    raw = np.asarray(raw)
    if raw.ndim != 1:
        raise UserError(f"{path} holds {what} in shape {raw.shape}; expected one label per image (shape (N,)).")
    kind = raw.dtype.kind
    if kind not in "iuf":
        raise UserError(f"{path} holds {what} as {raw.dtype}; expected integer class indices.")
    if kind == "f":
        if not np.isfinite(raw).all():
            raise UserError(f"{path} holds {what} with NaN or infinite values; expected integer class indices.")
        if (raw != np.floor(raw)).any():
            i = int(np.nonzero(raw != np.floor(raw))[0][0])
            raise UserError(f"{path} holds {what} that are not whole numbers (image {i}: {float(raw[i])!r}); expected "
                            "integer class indices.")
    if len(raw) and (raw.max() >= LARGEST_LABEL or (kind != "u" and raw.min() <= -LARGEST_LABEL)):
        raise UserError(f"{path} holds {what} from {raw.min()} to {raw.max()}; expected class indices.")
    return raw.astype(np.int64)


def checked(data: ImageSet, path: Path) -> ImageSet:
    imgs = data.images
    if imgs.ndim != 4 or imgs.shape[-1] != 3 or 0 in imgs.shape[1:3]:
        raise UserError(f"Images in {path} have shape {tuple(imgs.shape)}; expected N x H x W x 3 (RGB).")
    if imgs.dtype != np.uint8:
        raise UserError(f"Images in {path} are {imgs.dtype}; expected uint8 (0-255).")
    labels = data.labels
    if labels.ndim != 1 or labels.shape[0] != imgs.shape[0]:
        raise UserError(f"{path} has {imgs.shape[0]} images but labels of shape {tuple(labels.shape)}; expected "
                        f"one label per image, shape ({imgs.shape[0]},).")
    if len(data) == 0:
        raise UserError(f"{path} holds no images.")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= data.num_classes:
        raise UserError(f"Labels in {path} range over {lo}..{hi}, but there are {data.num_classes} class names.")
    c2s, supers = data.class_to_superclass, data.superclass_names
    if c2s is not None and supers is not None and (c2s.shape != (data.num_classes,) or c2s.min() < 0
                                                   or c2s.max() >= len(supers)):
        raise UserError(f"The superclass table of {path} does not fit its {data.num_classes} classes and "
                        f"{len(supers)} superclasses.")
    return dataclasses.replace(data, class_names=[unicode_name(n) for n in data.class_names],
                               superclass_names=None if supers is None else [unicode_name(n) for n in supers])
