"""A labelled test set, shared by every data source.

Labels and names are in memory; the images are either an array in memory or a lazy image set
(engine.sources.lazy) whose pixels are read batch by batch during the pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImageSet:
    """uint8 RGB images with integer labels and names; superclasses and object masks when known."""

    images: Any  # uint8 (N, H, W, 3), RGB: a numpy array or an engine.sources.lazy.LazyImages
    labels: np.ndarray  # int64 (N,), 0..C-1
    class_names: list[str]
    source: str  # human-readable description of where the images came from
    superclass_names: list[str] | None = None
    class_to_superclass: np.ndarray | None = None  # int64 (C,), index into superclass_names
    masks: np.ndarray | None = None  # bool (N, H, W): the object's pixels, when the data set knows them

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, n: int) -> "ImageSet":
        """The first n images (for --limit)."""
        return ImageSet(
            images=self.images[:n],
            labels=self.labels[:n],
            class_names=self.class_names,
            source=self.source,
            superclass_names=self.superclass_names,
            class_to_superclass=self.class_to_superclass,
            masks=None if self.masks is None else self.masks[:n],
        )
