"""torchvision's classification builders (and a few timm models) at small inputs with seeded random weights,
the layer the probe should choose for each family, and pytorch-grad-cam's maps at that layer: what the
family tests (test_gradcam_families.py, test_gradcam_timm.py) and benchmarks/bench_families.py share.

Random weights are drawn quickly: building every builder with torch's own initialisers spends most of
its time in the random number generator (two minutes for the 80 builders here), so while a model is built
its initialisers fill each tensor from one seeded N(0, 1) tile with the standard deviation the
initialiser asks for (kaiming, xavier, truncated normal, uniform). Weights a builder initialises to zero
(ViT's head) are then drawn too: with them the logits would not depend on the image at all.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from typing import Iterator
from unittest import mock

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TILE = (1 << 20) + 7  # odd length: consecutive rows of a weight do not repeat each other


@contextmanager
def quick_random_init(seed: int = 0) -> Iterator[None]:
    """torch.nn.init's random initialisers, fast and seeded, for the duration of the block."""
    tile = torch.randn(TILE, generator=torch.Generator().manual_seed(seed))
    at = [0]

    @torch.no_grad()
    def fill(t: torch.Tensor, std: float, mean: float = 0.0, lo: float | None = None, hi: float | None = None):
        flat = t.view(-1)
        n, start = flat.numel(), 0
        while start < n:
            k = min(n - start, TILE - at[0])
            flat[start : start + k].copy_(tile[at[0] : at[0] + k])
            start += k
            at[0] = (at[0] + k) % TILE
        flat.mul_(std).add_(mean)
        if lo is not None or hi is not None:
            flat.clamp_(lo, hi)
        return t

    init = torch.nn.init

    def std_of(t, gain, mode="fan_in"):
        return gain / math.sqrt(max(1, init._calculate_correct_fan(t, mode)))

    def kaiming(t, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
        return fill(t, std_of(t, init.calculate_gain(nonlinearity, a), mode))

    def xavier(t, gain=1.0, generator=None):
        fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
        return fill(t, gain * math.sqrt(2.0 / (fan_in + fan_out)))

    fakes = {
        "uniform_": lambda t, a=0.0, b=1.0, generator=None: fill(t, (b - a) / math.sqrt(12), (a + b) / 2, a, b),
        "normal_": lambda t, mean=0.0, std=1.0, generator=None: fill(t, std, mean),
        "trunc_normal_": lambda t, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None: fill(t, std, mean, a, b),
        "kaiming_uniform_": kaiming,
        "kaiming_normal_": kaiming,
        "xavier_uniform_": xavier,
        "xavier_normal_": xavier,
    }
    with mock.patch.multiple(init, **fakes):
        yield


def draw_zero_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Weights initialised to all zeros (ViT's head, its class token) drawn from N(0, 0.02)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("bias") and p.numel() > 1 and p.abs().max() == 0:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    return model


# --- torchvision -------------------------------------------------------------------------------------------


def family(name: str) -> str:
    """convnext_tiny -> convnext, efficientnet_v2_s -> efficientnet_v2, regnet_y_400mf -> regnet_y, ..."""
    for prefix in ("efficientnet_v2", "swin_v2", "mobilenet_v2", "mobilenet_v3", "regnet_x", "regnet_y",
                   "wide_resnet", "shufflenet_v2"):
        if name.startswith(prefix):
            return prefix
    return re.match(r"[a-z]+", name).group(0)


def input_size(name: str) -> int:
    """The smallest square input (a multiple of 32 where it matters) at which the builder's last stage has a
    grid of at least 2x2."""
    if name.startswith("vit_h"):
        return 28  # patch 14
    if name.startswith("vit") and name.endswith("_32"):
        return 64
    if name.startswith("vit"):
        return 32
    if name == "inception_v3":
        return 139
    if name == "maxvit_t":
        return 224  # every stage's grid must be a multiple of its 7x7 partition
    return 64


def build_torchvision(name: str, num_classes: int = 10, seed: int = 0) -> tuple[nn.Module, int]:
    """(model in eval mode, input size): the builder with weights=None, seeded random weights."""
    import torchvision

    size = input_size(name)
    options: dict = {"image_size": size} if name.startswith("vit") else {}
    if name in ("googlenet", "inception_v3"):
        options["init_weights"] = True
    with torch.random.fork_rng(), quick_random_init(seed):
        torch.manual_seed(seed)  # anything a builder draws outside torch.nn.init
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)
    return draw_zero_weights(model, seed).eval(), size


def expected_layer(name: str, model: nn.Module) -> str:
    """The last feature stage of the family: what the probe must choose."""
    fam = family(name)
    if fam in ("resnet", "resnext", "wide_resnet"):
        return "layer4"
    if fam in ("vgg", "alexnet"):  # the last ReLU before the last max-pool
        return f"features.{max(i for i, m in enumerate(model.features) if isinstance(m, nn.ReLU))}"
    if fam == "vit":
        return f"encoder.layers.encoder_layer_{len(model.encoder.layers) - 1}.ln_1"
    if fam == "maxvit":
        return f"blocks.{len(model.blocks) - 1}"
    return {"convnext": "features", "densenet": "features", "efficientnet": "features", "efficientnet_v2": "features",
            "googlenet": "inception5b", "inception": "Mixed_7c", "mnasnet": "layers", "mobilenet_v2": "features", "mobilenet_v3": "features", "regnet_x": "trunk_output",
            "regnet_y": "trunk_output", "shufflenet_v2": "conv5", "squeezenet": "features", "swin": "norm",
            "swin_v2": "norm"}[fam]


# --- timm ----------------------------------------------------------------------------------------------------

# (model, input size, options, the layer the probe should choose, the path): one member of each of four
# families, the ViT and DeiT at a 2x2 patch grid (DeiT's distillation token: two leading tokens dropped)
TIMM_MODELS = [
    ("resnet18", 64, {}, "layer4", "linear-head"),
    ("convnext_atto", 64, {}, "stages", "autograd"),
    ("vit_tiny_patch16_224", 32, {"img_size": 32}, "blocks.11.norm1", "autograd"),
    ("deit_tiny_distilled_patch16_224", 32, {"img_size": 32}, "blocks.11.norm1", "autograd"),
]


def build_timm(name: str, options: dict, num_classes: int = 10, seed: int = 0) -> nn.Module:
    import timm

    with torch.random.fork_rng(), quick_random_init(seed):
        torch.manual_seed(seed)  # timm's own trunc_normal_ draws from the global generator
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **options)
    return draw_zero_weights(model, seed).eval()


# --- the peer: pytorch-grad-cam ----------------------------------------------------------------------------


class _ExplicitInPlaceOp(nn.Module):
    """The model with the in-place op that follows its Grad-CAM layer made an explicit, not-in-place module
    (`after`), so pytorch-grad-cam can be pointed at the values that op produces. DenseNet only:
    F.relu(features, inplace=True) after `features`."""

    def __init__(self, densenet: nn.Module) -> None:
        super().__init__()
        self.features, self.after, self.classifier = densenet.features, nn.ReLU(), densenet.classifier

    def forward(self, x):
        out = nn.functional.adaptive_avg_pool2d(self.after(self.features(x)), (1, 1))
        return self.classifier(torch.flatten(out, 1))


def reshape_for(layer_map: dict):
    """pytorch-grad-cam's reshape_transform for a layer in this layout (the cache's target_layer_map)."""
    kind, (h, w) = layer_map["layout"], layer_map["grid"]
    if kind == "NHWC":
        return lambda t: t.permute(0, 3, 1, 2)
    if kind == "tokens":
        p = layer_map.get("prefix_tokens", 0)
        return lambda t: t[:, p:, :].reshape(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)
    return None


def reference_maps(model: nn.Module, layer: str, layer_map: dict, images: np.ndarray, targets: np.ndarray,
                   mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """pytorch-grad-cam's GradCAM maps (normalised, at the input size) of `targets` at `layer`."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    if layer_map.get("read_after_in_place"):
        model, target = _ExplicitInPlaceOp(model), None
        target = model.after
    else:
        target = dict(model.named_modules())[layer]
    with GradCAM(model=model, target_layers=[target], reshape_transform=reshape_for(layer_map)) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in targets])


def live(maps: np.ndarray) -> float:
    """The share of maps that are not flat (a flat map compares equal to anything after min-max)."""
    spread = maps.max(axis=(-2, -1)) - maps.min(axis=(-2, -1))
    return float((spread > 1e-3).mean())
