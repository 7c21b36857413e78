"""RunConfig: everything `gradcam-batch run` was asked to do, every flag checked once, defaults in one place.

Checks that need nothing but the values are made here, before any data or model is touched; checks that
need the machine (a device), the data (its classes) or torchvision (a weights name) are made where those
are opened, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError

DEFAULT_OUT = Path("gradcam_results")
CIFAR100_MEAN = (0.5070, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2761)
CACHE_FORMATS = ("auto", "npz", "folder")
CAM_METHODS = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "hirescam": "HiResCAM", "layercam": "LayerCAM"}
DISPLAY_SIZE = 128  # stored images are the model input scaled down to at most this many pixels a side
BATCH_SIZE = 256

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class RunConfig:
    data: str = "demo"
    checkpoint: Path | None = None
    arch: str | None = None
    model: str | None = None  # FILE.py:FACTORY
    mean: Triple | None = None  # None: from --weights, else CIFAR-100's
    std: Triple | None = None
    image_size: int | None = None
    weights: str | None = None
    display_size: int = DISPLAY_SIZE
    cache_format: str = "auto"
    workers: int | None = None
    out: Path | None = DEFAULT_OUT  # None: keep the results in memory, write nothing
    limit: int | None = None
    device: str = "auto"
    batch_size: int = BATCH_SIZE
    target_layer: str | None = None
    cam: str = "gradcam"
    trust_checkpoint: bool = False
    download: bool = False
    reports: bool = True

    def __post_init__(self) -> None:
        if self.arch is not None and self.model is not None:
            raise UserError("Give either --arch or --model, not both.")
        if self.cache_format not in CACHE_FORMATS:
            raise UserError(f"--cache-format {self.cache_format!r} is not one of {', '.join(CACHE_FORMATS)}.")
        if self.cam not in CAM_METHODS:
            raise UserError(f"Unknown CAM method {self.cam!r}; choose one of {', '.join(CAM_METHODS)}.")
        if self.workers is not None and self.workers < 0:
            raise UserError(f"--workers {self.workers}: give 0 (read in the main process) or more worker processes.")
        if self.display_size < 1:
            raise UserError(f"--display-size {self.display_size} is not a size in pixels; give a positive number such as 128.")
        if self.image_size is not None and self.image_size < 1:
            raise UserError(f"--image-size {self.image_size} is not a size in pixels; give a positive number such as 224.")
        if self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: give a positive number of images.")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit {self.limit}: give a positive number of images.")
        if self.weights is not None and (self.image_size is not None or self.mean is not None or self.std is not None):
            raise UserError("--weights sets the image size, mean and std from its transforms; drop --image-size/--mean/--std, or drop --weights.")
        for flag, values in (("--mean", self.mean), ("--std", self.std)):
            if values is not None and not all(math.isfinite(v) for v in values):
                raise UserError(f"{flag} {' '.join(map(str, values))}: every value must be a finite number.")
        if self.std is not None and not all(v > 0 for v in self.std):
            raise UserError(f"--std {' '.join(map(str, self.std))}: every value must be above 0.")

    @property
    def cam_name(self) -> str:
        return CAM_METHODS[self.cam]

    @property
    def uses_demo_model(self) -> bool:
        """`--data demo` without a model of the user's: the demo's own model and normalisation."""
        return self.data == "demo" and self.checkpoint is None and self.arch is None and self.model is None
