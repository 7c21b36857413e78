"""Model randomisation sanity check (Adebayo et al. 2018), the model side: the maps of a copy of the model
whose head and last stage (the Grad-CAM layer and every module that runs after it) are re-initialised.

The user's model is never touched: the copy is a deepcopy. "After it" is the order the modules finish in
one forward pass, so a head registered before the features in __init__ is still found. Modules with
reset_parameters() get their own initialisation; other parameters there are drawn from N(0, 0.02).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.gradcam.one_pass import OnePass, normalisation, to_model_input
from engine.gradcam.probe import logits_of, probe_model

SAMPLE = 256  # images whose maps are computed again
SEED = 0


def sample(num_images: int, size: int = SAMPLE, seed: int = SEED) -> np.ndarray:
    """Sorted ids of up to `size` images drawn without replacement, seeded."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_images, size=min(size, num_images), replace=False)).astype(np.int64)


def modules_from(model: nn.Module, layer_name: str, x: torch.Tensor) -> list[str]:
    """The layer and its submodules, and every module that finishes after the layer in a forward pass on x."""
    finished: list[str] = []
    handles = [m.register_forward_hook(lambda mod, inp, out, name=name: finished.append(name))
               for name, m in model.named_modules() if name]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    inside = [n for n, _ in model.named_modules() if n == layer_name or n.startswith(layer_name + ".")]
    last = max((i for i, n in enumerate(finished) if n == layer_name), default=len(finished))
    after = [n for n in finished[last + 1 :] if n not in inside and not layer_name.startswith(n + ".")]
    return list(dict.fromkeys(inside + after))


def randomised_copy(model: nn.Module, layer_name: str, x: torch.Tensor, seed: int = SEED) -> tuple[nn.Module, list[str]]:
    """A deepcopy of `model` with the layer and what runs after it re-initialised; the names of the modules
    whose own parameters were re-initialised."""
    twin = copy.deepcopy(model)
    names = modules_from(twin, layer_name, x)
    modules = dict(twin.named_modules())
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    reset = []
    try:
        with torch.no_grad():
            for name in names:
                m = modules[name]
                own = list(m.parameters(recurse=False))
                if not own:
                    continue
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
                else:
                    for p in own:
                        p.normal_(0.0, 0.02)
                reset.append(name)
    finally:
        torch.random.set_rng_state(generator_state)
    return twin.eval(), reset


def randomised_maps(model: nn.Module, layer_name: str, images: np.ndarray, classes: np.ndarray,
                    mean: tuple[float, float, float], std: tuple[float, float, float], device: torch.device,
                    batch_size: int = 256, method: str = "gradcam", precision: str = "fp32",
                    seed: int = SEED) -> tuple[np.ndarray, dict[str, Any]]:
    """The re-initialised copy's maps (M, h, w) of `classes` for images (uint8 (M, H, W, 3)), at the same
    layer with the same method; and what was re-initialised."""
    m_t, s_t = normalisation(mean, std, device)
    x = to_model_input(images[:2], m_t, s_t, device)
    twin, reset = randomised_copy(model, layer_name, x, seed)
    probe = probe_model(twin, x, int(logits_count(twin, x)), layer_name)
    with OnePass(twin, probe, mean, std, device, batch_size, method=method, precision=precision) as one:
        out = one(images, np.asarray(classes, dtype=np.int64))  # the "true" class of the pass = the class asked for
    return out.cam_true, {"reinitialised": describe(layer_name, reset), "modules": len(reset),
                          "images": int(len(classes)), "seed": seed}


def describe(layer_name: str, reset: list[str]) -> str:
    """'layer3 and fc': the layer and the modules after it that were re-initialised, outermost names."""
    after = [n for n in reset if n != layer_name and not n.startswith(layer_name + ".")]
    return " and ".join([", ".join([layer_name, *after[:-1]]), after[-1]]) if after else layer_name


def logits_count(model: nn.Module, x: torch.Tensor) -> int:
    with torch.inference_mode():
        return int(logits_of(model(x)).shape[1])
