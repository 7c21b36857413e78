"""Any class's Grad-CAM of any image, from what the pass stored (engine.gradcam.any_class), in numpy.

On the linear-head path the gradient of class c's logit with respect to the layer's map A (k, h, w) is
g = W[c] / (h w) at every cell, so each method of engine.gradcam.methods reduces to a weighted sum of A's
channels, then ReLU (before any normalisation, as the stored maps are):

    Grad-CAM, HiResCAM   sum_k g_k A_k
    LayerCAM             sum_k relu(g_k) A_k
    Grad-CAM++           sum_k (h w) relu(g_k) a_k A_k,  a_k = g_k^2 / (2 g_k^2 + sum_hw(A_k) g_k^3 + 1e-6)
                         (a_k = 0 where g_k = 0)

A cache holds either A (fp16) with W, or every class's map (fp16), or neither (the autograd path, or a run
over the budget): cam_of() answers from the true/top-k maps first, then from whichever is there. From the
same activations the formula equals the pass's maps to float32 rounding; from the fp16 ones it is within
fp16's rounding of them (about 1e-3 of a map's peak).
"""

from __future__ import annotations

import numpy as np

from engine.store import RunCache

EPS_PP = 1e-6  # pytorch-grad-cam's Grad-CAM++ epsilon, as engine.gradcam.methods
METHODS = ("gradcam", "gradcampp", "hirescam", "layercam")


def channel_weights(act: np.ndarray, grads: np.ndarray, method: str) -> np.ndarray:
    """The weight of each channel, (..., T, k), for gradients `grads` (T, k) constant over the grid of
    activations `act` (..., k, h, w)."""
    h, w = act.shape[-2:]
    g = grads.astype(np.float64)
    if method in ("gradcam", "hirescam"):
        return np.broadcast_to(g, (*act.shape[:-3], *g.shape))
    if method == "layercam":
        return np.broadcast_to(np.maximum(g, 0.0), (*act.shape[:-3], *g.shape))
    if method == "gradcampp":
        sum_act = act.astype(np.float64).sum(axis=(-2, -1))[..., None, :]  # (..., 1, k)
        g2, g3 = g**2, g**3
        aij = np.where(g != 0, g2 / (2 * g2 + sum_act * g3 + EPS_PP), 0.0)
        return h * w * np.maximum(g, 0.0) * aij
    raise ValueError(f"unknown CAM method {method!r}")


def cams_from_activations(act: np.ndarray, weight: np.ndarray, classes, method: str = "gradcam") -> np.ndarray:
    """Maps (..., T, h, w) float32, ReLU'd, of `classes` (T,) from activations (..., k, h, w) and the head's
    weights (C, k)."""
    act = np.asarray(act, dtype=np.float32)
    h, w = act.shape[-2:]
    grads = np.asarray(weight, dtype=np.float64)[np.atleast_1d(np.asarray(classes, dtype=np.int64))] / (h * w)
    alpha = channel_weights(act, grads, method).astype(np.float32)
    return np.maximum(np.einsum("...tk,...khw->...thw", alpha, act), 0.0)


def stores_any_class(cache: RunCache) -> bool:
    """Whether the cache can give the map of any class (not only the true and top-k ones)."""
    return cache.cam_all is not None or (cache.cam_activations is not None and cache.head_weights is not None)


def why_not_any_class(cache: RunCache) -> str:
    """One sentence: why the map of a class outside the stored ones cannot be shown for this cache."""
    k = cache.topk_classes.shape[1]
    stored = f"only the true class's and the top-{k} classes' maps are stored"
    meta = cache.meta.get("any_class_maps") if isinstance(cache.meta, dict) else None
    if cache.meta.get("cam_path") == "autograd":
        return f"The map of another class is not available for this model's path (autograd): {stored}."
    why = meta.get("why") if isinstance(meta, dict) else None
    if isinstance(why, str) and why.startswith("not stored"):
        return f"The map of another class is not available: {why.removeprefix('not stored: ')}; {stored}."
    return f"The map of another class is not available: this cache predates it ({stored}); run again to store it."


def cam_of(cache: RunCache, i: int, cls: int) -> np.ndarray | None:
    """Image i's map of class cls at the layer's resolution, (h, w) float32: the pass's own where it stored
    it (true class, top-k), else from every class's maps or the activations; None where the cache has none."""
    stored = cache.cam_for(i, cls)
    if stored is not None or not 0 <= cls < cache.num_classes:
        return stored
    if cache.cam_all is not None:
        scale = 1.0 if cache.cam_all_scale is None else float(cache.cam_all_scale[i])
        return np.asarray(cache.cam_all[i, cls], dtype=np.float32) * np.float32(scale)
    if cache.cam_activations is not None and cache.head_weights is not None:
        method = str(cache.meta.get("cam_method", "gradcam"))
        return cams_from_activations(cache.cam_activations[i], cache.head_weights, [cls],
                                     method if method in METHODS else "gradcam")[0]
    return None
