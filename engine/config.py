"""RunConfig: everything `gradcam-batch run` was asked to do, every flag checked once, defaults in one place.

Checks that need nothing but the values are made here, before any data or model is touched; checks that
need the machine (a device), the data (its classes) or torchvision (a weights name) are made where those
are opened, once.
"""

from __future__ import annotations

import errno
import math
import os
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
PRECISIONS = ("fp32", "bf16", "fp16")  # the forward's arithmetic (engine.gradcam.precision); fp32 is exact
TTA_MODES = ("none", "flip")  # test-time augmentation (engine.gradcam.tta)
FAITHFULNESS_PER_CLASS = 5  # --faithfulness: images per class in its stratified sample (docs/definitions.md)

Triple = tuple[float, float, float]


def _check_lookup(flag: str, value: object) -> None:
    """A path the file system cannot even look up (a name longer than it allows, a link loop) is one sentence
    naming the flag; a path that does not exist is left to whoever opens it, with what it expected there."""
    if value is None or value == "":
        return
    try:
        os.stat(os.path.expanduser(str(value)))
    except RuntimeError:  # `~nouser/...`: expanded, not looked up here
        return
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):
            raise UserError(f"{flag} {value}: {(exc.strerror or 'cannot be looked up').lower()}.") from None


def _inside(out: Path, data: str) -> bool:
    """The output folder is the data folder or lies inside it (only for a data set given as a folder)."""
    try:
        root = os.path.realpath(os.path.expanduser(data))
        if data == "" or not os.path.isdir(root):
            return False
        target = os.path.realpath(os.path.expanduser(str(out)))
    except (OSError, RuntimeError, ValueError):
        return False
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


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
    precision: str = "fp32"
    tf32: bool = False  # CUDA's TensorFloat-32 matrix products, for fp32
    tta: str = "none"  # flip: each image and its mirror, logits averaged (engine.gradcam.tta)
    faithfulness: bool = False  # deletion/insertion, confidence change and model randomisation (engine.gradcam.faithfulness)
    faithfulness_sample: int | None = FAITHFULNESS_PER_CLASS  # images per class; None: every image

    def __post_init__(self) -> None:
        if self.arch is not None and self.model is not None:
            raise UserError("Give either --arch or --model, not both.")
        if self.cache_format not in CACHE_FORMATS:
            raise UserError(f"--cache-format {self.cache_format!r} is not one of {', '.join(CACHE_FORMATS)}.")
        if self.precision not in PRECISIONS:
            raise UserError(f"--precision {self.precision!r} is not one of {', '.join(PRECISIONS)}.")
        if self.tta not in TTA_MODES:
            raise UserError(f"--tta {self.tta!r} is not one of {', '.join(TTA_MODES)}.")
        if self.cam not in CAM_METHODS:
            raise UserError(f"Unknown CAM method {self.cam!r}; choose one of {', '.join(CAM_METHODS)}.")
        if self.workers is not None and self.workers < 0:
            raise UserError(f"--workers {self.workers}: give 0 (read in the main process) or more worker processes.")
        if self.display_size < 1:
            raise UserError(f"--display-size {self.display_size} is not a size in pixels; give a positive number such as 128.")
        if self.image_size is not None and self.image_size < 1:
            raise UserError(f"--image-size {self.image_size} is not a size in pixels; give a positive number such as 224.")
        if self.faithfulness_sample is not None and self.faithfulness_sample < 1:
            raise UserError(f"--faithfulness-sample {self.faithfulness_sample}: give a positive number of images per "
                            "class, or 'all'.")
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
        for flag, value in (("--data", self.data), ("--checkpoint", self.checkpoint), ("--out", self.out),
                            ("--model", self.model.rpartition(":")[0] if self.model else None)):
            _check_lookup(flag, value)
        if self.out is not None and self.data != "demo" and _inside(self.out, self.data):  # demo: generated, no folder
            raise UserError(f"--out {self.out} is inside --data {self.data}: the next run would read the reports "
                            "written there as data; choose an --out outside the data set.")

    @staticmethod
    def faithfulness_sample_of(text: str) -> int | None:
        """--faithfulness-sample: 'all' (None) or a positive number of images per class."""
        if text.strip().lower() == "all":
            return None
        try:
            value = int(text)
        except ValueError:
            raise UserError(f"--faithfulness-sample {text!r}: give a number of images per class, or 'all'.") from None
        if value < 1:
            raise UserError(f"--faithfulness-sample {value}: give a positive number of images per class, or 'all'.")
        return value

    @property
    def cam_name(self) -> str:
        return CAM_METHODS[self.cam]

    @property
    def uses_demo_model(self) -> bool:
        """`--data demo` without a model of the user's: the demo's own model and normalisation."""
        return self.data == "demo" and self.checkpoint is None and self.arch is None and self.model is None
