"""Input geometry for models that do not take the images as they are: resize the shorter side and
center-crop, as torchvision evaluates ImageNet models, from `--image-size S` or from the `.transforms()` of
a torchvision weights enum named with `--weights` (only that metadata is used: nothing is downloaded).

The resize/crop runs on uint8 pixels in the DataLoader's workers, with torchvision's own functions and in
its order (PIL images are resized as PIL images, arrays as uint8 tensors), so after the engine's /255 and
mean/std step the model sees the very tensors `weights.transforms()` would give. The same uint8 crop,
scaled down to at most `--display-size` pixels a side, is what the cache stores for the TUI and reports.

torch and torchvision (~2 s to import) are imported where pixels are resized, so a run on images the model
takes as they are (CIFAR) never loads torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import UserError

IMAGENET_EVAL_RATIO = 224 / 256  # crop / resize of torchvision's ImageNet evaluation


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to `resize`, then center-crop `size` x `size` (all on uint8 pixels)."""

    size: int
    resize: int
    interpolation: str = "bilinear"  # the value of a torchvision InterpolationMode
    antialias: bool = True
    mean: tuple[float, float, float] | None = None  # from --weights; --image-size leaves --mean/--std in charge
    std: tuple[float, float, float] | None = None
    origin: str = field(default="", compare=False)

    def pil(self, image: Any) -> np.ndarray:
        """A PIL RGB image -> uint8 (size, size, 3), as torchvision's transforms treat PIL input."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        mode = InterpolationMode(self.interpolation)
        image = F.resize(image, [self.resize], interpolation=mode, antialias=self.antialias)
        return np.asarray(F.center_crop(image, [self.size]), dtype=np.uint8)

    def batch(self, images: np.ndarray) -> np.ndarray:
        """uint8 (B, H, W, 3) -> uint8 (B, size, size, 3), as torchvision's transforms treat uint8 tensors."""
        import torch
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        x = F.resize(x, [self.resize], interpolation=InterpolationMode(self.interpolation), antialias=self.antialias)
        x = F.center_crop(x, [self.size])
        return x.permute(0, 2, 3, 1).contiguous().numpy()

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin, "resize_shorter_side": self.resize, "center_crop": self.size,
                "interpolation": self.interpolation, "antialias": self.antialias}


def from_image_size(size: int) -> Preprocess:
    """--image-size S: shorter side to round(S * 256 / 224), center crop S (torchvision's ImageNet eval)."""
    if size < 1:
        raise UserError(f"--image-size {size} is not a size in pixels; give a positive number such as 224.")
    return Preprocess(size=size, resize=round(size / IMAGENET_EVAL_RATIO), origin=f"--image-size {size}")


def from_weights(name: str) -> Preprocess:
    """--weights ResNet50_Weights.IMAGENET1K_V2: resize, crop, interpolation, mean and std of its transforms."""
    from torchvision.models import get_weight

    try:
        weights = get_weight(name)
    except (ValueError, KeyError, AttributeError, TypeError):
        raise UserError(
            f"--weights {name!r} is not a torchvision weights name; give one such as ResNet50_Weights.IMAGENET1K_V2."
        ) from None
    t = weights.transforms()
    crop, resize = getattr(t, "crop_size", None), getattr(t, "resize_size", None)
    if not (isinstance(crop, list) and isinstance(resize, list) and len(crop) == 1 and len(resize) == 1):
        raise UserError(f"--weights {name}: its transforms are not an image-classification resize and crop.")
    return Preprocess(
        size=int(crop[0]), resize=int(resize[0]), interpolation=t.interpolation.value, antialias=bool(t.antialias),
        mean=tuple(float(m) for m in t.mean), std=tuple(float(s) for s in t.std), origin=f"--weights {name}",  # type: ignore[arg-type]
    )


def display_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """The stored image's size: the model input scaled down (aspect kept) to at most max_side a side."""
    if max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_display(images: np.ndarray, max_side: int) -> np.ndarray | None:
    """uint8 (B, H, W, 3) scaled down (antialiased bilinear) to display_shape, or None if already small enough."""
    h, w = images.shape[1:3]
    size = display_shape(h, w, max_side)
    if size == (h, w):
        return None
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    x = F.resize(x, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True)
    return x.permute(0, 2, 3, 1).contiguous().numpy()
