"""RunCache: the arrays and names one run stored, as plain numpy (no analysis: engine.analysis works on them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(eq=False)
class RunCache:
    """Everything the reports and the TUI need about one run; per-image arrays share their first axis N.
    Compared by identity: two caches are equal only if they are the same object."""

    images: np.ndarray  # uint8 (N, H, W, 3): the model input, scaled down for display
    labels: np.ndarray  # int64 (N,)
    probs: np.ndarray  # float32 (N, C) softmax probabilities
    topk_classes: np.ndarray  # int64 (N, K): classes by descending probability; [:, 0] is the prediction
    cam_true: np.ndarray  # float32 (N, h, w): Grad-CAM for the true class at the layer's resolution (ReLU'd)
    cam_topk: np.ndarray  # float32 (N, K, h, w): Grad-CAM for each of topk_classes
    class_names: list[str]
    meta: dict[str, Any]
    superclass_names: list[str] | None = None
    class_to_superclass: np.ndarray | None = None  # int64 (C,)
    masks: np.ndarray | None = None  # bool (N, H, W), where the data set knows the object
    logits: np.ndarray | None = None  # float32 (N, C) raw scores, for calibration (temperature scaling)
    cam_contrast: np.ndarray | None = None  # float32 (N, h, w): the map of y_pred - y_true; 0 where right
    features: np.ndarray | None = None  # float16 (N, k): the Grad-CAM layer's spatial mean (similar images)
    cam_activations: np.ndarray | None = None  # float16 (N, k, h, w): the layer's map, any class's CAM with ...
    head_weights: np.ndarray | None = None  # float32 (C, k): ... the linear head's weights (engine.analysis.any_class_maps)
    cam_all: np.ndarray | None = None  # float16 (N, C, h, w): every class's CAM, where smaller than the above,
    cam_all_scale: np.ndarray | None = None  # float32 (N,): ... divided by this (the image's largest value)
    probs_plain: np.ndarray | None = None  # float32 (N, C): the original view alone, when probs average views (tta)
    # --faithfulness, NaN rows outside its sample: the predicted class's probability along the deletion and
    # insertion curves (N, S + 1) and on the image times its map (N,); the rank correlation of the
    # predicted-class map with the re-initialised model's (N,)
    faith_deletion: np.ndarray | None = None
    faith_insertion: np.ndarray | None = None
    faith_masked: np.ndarray | None = None
    sanity_randomised_corr: np.ndarray | None = None

    @property
    def num_images(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def preds(self) -> np.ndarray:
        return self.topk_classes[:, 0]

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class, per image."""
        return self.probs[np.arange(self.num_images), self.preds]

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def has_superclasses(self) -> bool:
        return self.superclass_names is not None and self.class_to_superclass is not None

    def cam_for(self, i: int, cls: int) -> np.ndarray | None:
        """Grad-CAM of image i for class cls at the layer's resolution, or None if the cache does not hold it."""
        if cls == int(self.labels[i]):
            return self.cam_true[i]
        hits = np.nonzero(self.topk_classes[i] == cls)[0]
        return self.cam_topk[i, hits[0]] if len(hits) else None
