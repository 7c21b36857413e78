"""The CAM formulas (those of pytorch-grad-cam), on one batch of activations and gradients.

Grad-CAM (Selvaraju et al. 2017): alpha_k = spatial mean of d y_c / d A_k, map = ReLU(sum_k alpha_k A_k);
Grad-CAM++, HiResCAM and LayerCAM as pytorch-grad-cam computes them. Each returns the map before
normalisation, (B, h, w), ReLU'd. `grads` may be a full (B, k, h, w) tensor (autograd path) or (B, k, 1, 1)
when the gradient is constant over space (a linear head after global-average-pooling).
"""

from __future__ import annotations

import torch

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


def cams_from_head(act: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor, method: str = "gradcam") -> torch.Tensor:
    """CAMs (before normalisation) for classes (B, T) from activations (B, k, h, w) when d y_c / d A = W[c] / (h w)."""
    h, w = act.shape[-2:]
    grads = weight[classes].to(act.dtype) / (h * w)  # (B, T, k)
    if method == "gradcam":  # the common case as one product
        return torch.relu(torch.einsum("btk,bkhw->bthw", grads, act))
    return torch.stack([cam(method, act, grads[:, t, :, None, None]) for t in range(classes.shape[1])], dim=1)


def cams_by_autograd(act: torch.Tensor, logits: torch.Tensor, classes: torch.Tensor, method: str = "gradcam") -> torch.Tensor:
    """CAMs with per-sample targets: one autograd.grad per target column."""
    maps = []
    for t in range(classes.shape[1]):
        score = logits.gather(1, classes[:, t : t + 1]).sum()
        (grad,) = torch.autograd.grad(score, act, retain_graph=t < classes.shape[1] - 1)
        maps.append(cam(method, act.detach(), grad))
    return torch.stack(maps, dim=1)
