"""Test-time augmentation by horizontal flip (`gradcam-batch run --tta flip`).

Each image also goes through the model mirrored (torch.flip over the width), and the logits of the two
views are averaged: the cache's logits are that average and its probabilities their softmax. Averaging
logits (not probabilities) keeps probs == softmax(logits) true in the cache, so calibration, temperature
scaling and the label-suspect null all read one consistent pair; it is the renormalised geometric mean of
the two views' probabilities. On the shared ResNet-56 it gives 73.85% top-1 where averaging probabilities
gives 73.76% (the two pick the same class for 97% of the CIFAR-100 test images). The plain view's probabilities are kept too (the optional member `probs_plain`), so
the reports give the plain and the averaged accuracy and calibration side by side.

The Grad-CAM maps come from the original view alone (for the true class and the averaged top-k classes):
a map has to lie on the image the cache shows, and the mirror's map flipped back is not the original's
(the network is not mirror-symmetric, and an even-sized grid of stride-2 layers samples a mirrored image
at other positions), so averaging the two would blur a map into something neither view computed. It also
keeps the pass to one CAM computation: the mirror costs a forward pass only.

The mirror's forward pass runs without autograd and is timed: the longest lane's total time in it is
what the flip added to the pass (exact with one lane, as on an accelerator; CPU lanes run side by side).
"""

from __future__ import annotations

import time
from typing import Callable

import torch

TTA_MODES = ("none", "flip")


def mirrored(x: torch.Tensor) -> torch.Tensor:
    """The batch (B, 3, H, W) mirrored left to right."""
    return torch.flip(x, dims=[3])


def average_logits(plain: torch.Tensor, mirror: torch.Tensor) -> torch.Tensor:
    return (plain + mirror) / 2


class FlipViews:
    """The mirrored view's logits for a batch, and the time spent on them, per lane (keyed by its model)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._seconds: dict[int, float] = {}

    def logits(self, model: torch.nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               captured: dict, grad_path: bool) -> torch.Tensor:
        """forward(mirrored x) as float logits, without a graph; the layer output the hook captured for the
        mirror is dropped (the maps come from the original view)."""
        self._sync()
        t0 = time.perf_counter()
        # the autograd path's hook switches grad on from the layer, which inference mode refuses: no_grad there
        with torch.no_grad() if grad_path else torch.inference_mode():
            out = forward(mirrored(x)).detach().float()
        captured.pop("act", None)
        self._sync()
        key = id(model)
        self._seconds[key] = self._seconds.get(key, 0.0) + time.perf_counter() - t0
        return out

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @property
    def seconds(self) -> float:
        """The mirror's share of the pass: the longest lane's total time in the mirrored forward passes."""
        return max(self._seconds.values(), default=0.0)
