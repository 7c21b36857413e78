"""What the pass stores so that any class's Grad-CAM of any image is one small product later, without torch.

On the linear-head path (engine.gradcam.probe) d y_c / d A = W[c] / (h w) everywhere, so every method's
map of every class follows from the layer's activations A (N, k, h, w) and the head's weights W (C, k):
store those two (A at fp16, W once at fp32), or every class's map itself (N, C, h, w, fp16, divided by the
image's largest map value, stored beside it at fp32: a map's absolute size can be far below fp16's range,
1e-10 for a freshly initialised head), whichever is smaller. engine.analysis.any_class_maps computes the map from either. Above BUDGET bytes nothing is
stored (the run says so); on the autograd path no such product exists and nothing is stored either: the
maps of the true class and the top-k remain.

The layer's spatial mean, (N, k) at fp16, is stored on both paths: the pooled features the head reads
(engine.analysis.similar_images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.gradcam.methods import cams_from_head

BUDGET = 1 << 30  # bytes: any class's maps are not stored above this
ACTIVATIONS, MAPS = "activations", "maps"  # what is stored for them
FP16 = 2  # bytes per stored value
FP16_MAX = 65504.0


@dataclass(frozen=True)
class AnyClassPlan:
    """What a run stores for any class's map: ACTIVATIONS, MAPS or None, its bytes, and why (one line)."""

    kind: str | None
    bytes: int
    why: str

    def meta(self) -> dict[str, Any]:
        return {"stored": self.kind, "bytes": self.bytes, "budget_bytes": BUDGET, "why": self.why}


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def plan_any_class(num_images: int, num_classes: int, channels: int, grid: tuple[int, int], linear_head: bool,
                   budget: int = BUDGET) -> AnyClassPlan:
    """The smaller of the activations (+ head weights) and every class's map, within `budget` bytes."""
    if not linear_head:
        return AnyClassPlan(None, 0, "not stored: on the autograd path only the true and top-k classes' maps are "
                                     "computed (no small product gives the others)")
    cells = grid[0] * grid[1]
    activations = num_images * channels * cells * FP16 + num_classes * channels * 4
    maps = num_images * (num_classes * cells * FP16 + 4)
    kind, size = (ACTIVATIONS, activations) if activations <= maps else (MAPS, maps)
    if size > budget:
        return AnyClassPlan(None, 0, f"not stored: they would take {_size(size)}, over the {_size(budget)} budget")
    what = (f"the layer's activations ({channels}x{grid[0]}x{grid[1]} fp16 per image) and the head's weights"
            if kind == ACTIVATIONS else f"every class's map ({num_classes}x{grid[0]}x{grid[1]} fp16 per image)")
    return AnyClassPlan(kind, size, f"stored as {what}, {_size(size)}")


def feature_bytes(num_images: int, channels: int) -> int:
    return num_images * channels * FP16


def batch_members(act: torch.Tensor, head: torch.Tensor | None, kind: str | None, method: str
                  ) -> dict[str, np.ndarray]:
    """This batch's stored members from the layer's activations `act` (B, k, h, w, float): the pooled
    features, and what `kind` asks for."""
    out = {"features": _half(act.mean(dim=(2, 3)))}
    if kind == ACTIVATIONS:
        out["cam_activations"] = _half(act)
    elif kind == MAPS and head is not None:
        every = torch.arange(head.shape[0], device=act.device).expand(act.shape[0], -1)
        maps = cams_from_head(act, head.to(act.device).float(), every, method)
        scale = maps.amax(dim=(1, 2, 3)).clamp_min(torch.finfo(torch.float32).tiny)
        out["cam_all"] = _half(maps / scale[:, None, None, None])
        out["cam_all_scale"] = scale.float().cpu().numpy()
    return out


def _half(t: torch.Tensor) -> np.ndarray:
    """fp16, clamped to its range (a value past 65504 would become inf)."""
    return t.clamp(-FP16_MAX, FP16_MAX).half().cpu().numpy()
