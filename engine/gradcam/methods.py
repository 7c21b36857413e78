"""The CAM formulas (those of pytorch-grad-cam), on one batch of activations and gradients.

Grad-CAM (Selvaraju et al. 2017): alpha_k = spatial mean of d y_c / d A_k, map = ReLU(sum_k alpha_k A_k);
Grad-CAM++, HiResCAM and LayerCAM as pytorch-grad-cam computes them. Each returns the map before
normalisation, (B, h, w), ReLU'd. `grads` may be a full (B, k, h, w) tensor (autograd path) or (B, k, 1, 1)
when the gradient is constant over space (a linear head after global-average-pooling).

On the autograd path every target of a batch (the true class and the top-k) comes from one batched
vector-Jacobian product: `torch.autograd.grad(logits, A, grad_outputs=one_hots, is_grads_batched=True)`
with one one-hot row per image and target rank, vmapped over the ranks. That is exact for any model (each
rank is its own backward pass in the maths, only batched in the arithmetic). Where a layer of the model has
no vmap rule, the ranks run one backward each over the retained graph instead.

The contrastive map of an error, "why the prediction b and not the true class a", is the same formula on
d(y_b - y_a) / dA = d y_b / dA - d y_a / dA: the difference of two gradients the pass already has (W[b] -
W[a] over h*w on the linear-head path), so it costs no backward pass of its own. A correct prediction has
no contrast: its map is zeros.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

# vmap runs an operator without a batching rule in a loop and says so once per operator: correct, and
# nothing the user can act on
warnings.filterwarnings("ignore", message=r".*There is a performance drop because we have not yet implemented the batching rule.*")

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


def contrast_map(method: str, act: torch.Tensor, grad_pred: torch.Tensor, grad_true: torch.Tensor,
                 same: torch.Tensor) -> torch.Tensor:
    """The CAM (B, h, w) of y_pred - y_true from the two classes' gradients (each (B, k, h, w) or (B, k, 1, 1));
    zeros where `same` (B,) says the prediction is the true class."""
    g = grad_pred - grad_true
    g = torch.where(same.view(-1, *([1] * (g.ndim - 1))), torch.zeros_like(g), g)
    return cam(method, act, g)


def contrast_from_head(act: torch.Tensor, weight: torch.Tensor, pred: torch.Tensor, true: torch.Tensor,
                       method: str = "gradcam") -> torch.Tensor:
    """The contrastive map (B, h, w) of classes pred over true (B,) when d y_c / d A = W[c] / (h w)."""
    h, w = act.shape[-2:]
    per_class = weight.to(act.dtype)[:, :, None, None] / (h * w)
    return contrast_map(method, act, per_class[pred], per_class[true], pred == true)


def target_gradients(logits: torch.Tensor, act: torch.Tensor, classes: torch.Tensor, batched: bool = True
                     ) -> tuple[torch.Tensor, bool]:
    """d logits[b, classes[b, t]] / d act for every image b and target rank t: (T, *act.shape), and whether
    the batched product was used (False: it is not available for this model, one backward per rank)."""
    ranks = classes.shape[1]
    one_hots = torch.zeros((ranks, *logits.shape), dtype=logits.dtype, device=logits.device)
    one_hots.scatter_(2, classes.T.unsqueeze(-1), 1.0)
    if batched:
        try:
            (grads,) = torch.autograd.grad(logits, act, grad_outputs=one_hots, is_grads_batched=True, retain_graph=True)
            return grads, True
        except (RuntimeError, NotImplementedError):
            pass  # an operator without a vmap rule: fall back to one backward per rank
    grads = [torch.autograd.grad(logits, act, grad_outputs=one_hots[t], retain_graph=t < ranks - 1)[0]
             for t in range(ranks)]
    return torch.stack(grads), False


def cams_by_autograd(act: torch.Tensor, logits: torch.Tensor, classes: torch.Tensor, method: str = "gradcam",
                     to_grid: Callable[[torch.Tensor], torch.Tensor] = lambda t: t, batched: bool = True,
                     contrast: bool = False) -> tuple[torch.Tensor, bool]:
    """CAMs (B, T, h, w) for per-sample targets `classes` (B, T), from the layer's output `act` in its own
    layout (`to_grid` makes it (B, k, h, w)), and whether the batched product was used. With `contrast`,
    one more map comes last, (B, T + 1, h, w): the contrastive map of target 1 over target 0, from the same
    gradients."""
    grads, used = target_gradients(logits, act, classes, batched)
    grid = to_grid(act.detach())
    maps = [cam(method, grid, to_grid(grads[t])) for t in range(classes.shape[1])]
    if contrast:
        maps.append(contrast_map(method, grid, to_grid(grads[1]), to_grid(grads[0]), classes[:, 1] == classes[:, 0]))
    return torch.stack(maps, dim=1), used
