"""The built-in architectures, by the name --arch takes, each with its Grad-CAM layer.

- resnet18/34/50: torchvision's ResNets with the CIFAR stem (3x3 stride-1 conv1, no max-pool);
- tv_resnet18/34/50/101/152: torchvision's ImageNet ResNets unchanged (they load torchvision's state_dicts);
- cifar_resnet20/32/44/56/110: the CIFAR ResNets of He et al. in the pytorch-cifar-models layout.
"""

from __future__ import annotations

from typing import Callable

import torchvision
from torch import nn

from engine.models.cifar_resnet import DEPTHS, cifar_resnet


def _torchvision_cifar(name: str) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)  # CIFAR stem
        model.maxpool = nn.Identity()
        return model

    return build


def _torchvision_imagenet(name: str) -> Callable[[int], nn.Module]:
    """torchvision's ResNet as published (7x7 stride-2 conv1 and max-pool): loads its own state_dicts."""

    def build(num_classes: int) -> nn.Module:
        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)

    return build


# resnet18/34/50 with the CIFAR stem; tv_resnet* are torchvision's ImageNet ResNets unchanged
ARCHITECTURES: dict[str, tuple[Callable[[int], nn.Module], str]] = {
    **{name: (_torchvision_cifar(name), "layer4") for name in ("resnet18", "resnet34", "resnet50")},
    **{f"tv_{name}": (_torchvision_imagenet(name), "layer4") for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    **{f"cifar_resnet{d}": ((lambda n, d=d: cifar_resnet(d, n)), "layer3") for d in DEPTHS},
}


def known_layer(model: nn.Module) -> str | None:
    """The Grad-CAM layer of a ResNet-like module by its children's names (a trusted pickled model)."""
    names = dict(model.named_children())
    return "layer4" if "layer4" in names else "layer3" if "layer3" in names else None
