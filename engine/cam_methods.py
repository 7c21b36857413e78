"""Gradient-based CAM methods on one batch, from activations and gradients (the formulas of pytorch-grad-cam).

Each returns the map before normalisation, (B, h, w), ReLU'd. `grads` may be a full (B, k, h, w) tensor
(autograd path) or (B, k, 1, 1) when the gradient is constant over space (linear head after GAP).
"""

from __future__ import annotations

import torch

METHODS = ("gradcam", "gradcampp", "hirescam", "layercam")
METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "hirescam": "HiResCAM", "layercam": "LayerCAM"}
EPS_PP = 1e-6  # pytorch-grad-cam's Grad-CAM++ epsilon


def _spatial_sum(x: torch.Tensor, hw: int) -> torch.Tensor:
    """Sum over (h, w); a (B, k, 1, 1) constant-over-space tensor counts h*w times."""
    return x.sum(dim=(2, 3)) * (hw if x.shape[-1] * x.shape[-2] == 1 else 1)


def cam(method: str, act: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    h, w = act.shape[-2:]
    if method == "gradcam":
        weights = _spatial_sum(grads, h * w) / (h * w)
        return torch.relu(torch.einsum("bk,bkhw->bhw", weights, act))
    if method == "hirescam":
        return torch.relu((grads * act).sum(dim=1))
    if method == "layercam":
        return torch.relu((torch.relu(grads) * act).sum(dim=1))
    if method == "gradcampp":
        g2 = grads**2
        g3 = g2 * grads
        sum_act = act.sum(dim=(2, 3))[:, :, None, None]
        aij = g2 / (2 * g2 + sum_act * g3 + EPS_PP)
        aij = torch.where(grads != 0, aij, torch.zeros_like(aij))
        weights = _spatial_sum(torch.relu(grads) * aij, h * w)
        return torch.relu(torch.einsum("bk,bkhw->bhw", weights, act))
    raise ValueError(f"unknown CAM method {method!r}")
