"""The architectures --arch names, each built with the data's class count and random weights (the weights
come from --checkpoint; nothing is downloaded).

- resnet18/34/50: torchvision's ResNets with the CIFAR stem (3x3 stride-1 conv1, no max-pool);
- cifar_resnet20/32/44/56/110: the CIFAR ResNets of He et al. in the pytorch-cifar-models layout;
- tv_resnet18/34/50/101/152: torchvision's ImageNet ResNets (BatchNorm folded like the above);
- tv_NAME, or NAME where it is not one of the above: any classification builder of torchvision.models
  (`torchvision.models.list_models(module=torchvision.models)`: alexnet, convnext_tiny, densenet121,
  efficientnet_b0, vit_b_16, swin_t, ...) unchanged, so it loads torchvision's own state_dicts; tv_resnet50
  is torchvision's ImageNet ResNet-50 while resnet50 is the CIFAR-stem one above;
- timm/NAME: a timm model (`timm.create_model(NAME, pretrained=False, num_classes=C)`), when timm is
  installed (the optional extra `pip install 'gradcam-tui[timm]'`); its pretrained_cfg's mean and std
  are the default normalisation.

The built-in ResNets name their Grad-CAM layer; for the others the probe chooses it
(engine.gradcam.probe, rules in docs/models.md).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from torch import nn

from engine.errors import UserError
from engine.models.cifar_resnet import DEPTHS, cifar_resnet

TIMM_PREFIX = "timm/"
TORCHVISION_PREFIX = "tv_"
AUX_HEADS = ("aux1.", "aux2.", "AuxLogits.")  # GoogLeNet's and Inception-v3's training-only heads


def _torchvision_cifar(name: str) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        import torchvision  # ~2 s: only for the architectures that are torchvision's

        model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)  # CIFAR stem
        model.maxpool = nn.Identity()
        return model

    return build


def _torchvision_imagenet(name: str) -> Callable[[int], nn.Module]:
    """torchvision's ResNet as published (7x7 stride-2 conv1 and max-pool): loads its own state_dicts."""

    def build(num_classes: int) -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)

    return build


# The built-ins: BatchNorm folded into their convolutions, and the ones a TorchScript file's weights are
# matched against. The CIFAR ones fix their Grad-CAM layer; for torchvision's ResNets the probe chooses it
# (layer4 from 64 px up; at CIFAR's 32 px layer4 is 1x1 and layer3 is chosen).
ARCHITECTURES: dict[str, tuple[Callable[[int], nn.Module], str | None]] = {
    **{name: (_torchvision_cifar(name), "layer4") for name in ("resnet18", "resnet34", "resnet50")},
    **{f"tv_{name}": (_torchvision_imagenet(name), None) for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    **{f"cifar_resnet{d}": ((lambda n, d=d: cifar_resnet(d, n)), "layer3") for d in DEPTHS},
}


@dataclass(frozen=True)
class Architecture:
    """What --arch NAME builds."""

    name: str
    build: Callable[..., nn.Module]  # build(num_classes, **options)
    layer: str | None  # the Grad-CAM layer when the architecture fixes it; None: the probe chooses
    source: str  # "built-in", "torchvision" or "timm"
    mean: tuple[float, float, float] | None = None  # the architecture's own normalisation (timm's pretrained_cfg)
    std: tuple[float, float, float] | None = None
    builder: str = ""  # the torchvision builder or timm model name

    def options(self, weights: str | None) -> dict:
        """Builder options that torchvision's builder sets together with its pretrained weights: GoogLeNet and
        Inception-v3 re-normalise their input (transform_input) when built for them, so a checkpoint
        fine-tuned from those weights expects it; --weights of that builder turns it on."""
        if self.source == "torchvision" and weights and self.builder in ("googlenet", "inception_v3"):
            prefix = {"googlenet": "GoogLeNet_Weights", "inception_v3": "Inception_V3_Weights"}[self.builder]
            if weights.split(".")[0] == prefix:
                return {"transform_input": True}
        return {}


def torchvision_builders() -> list[str]:
    """Every classification builder of torchvision.models, by name."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, aux_logits: bool | None = None, transform_input: bool = False) -> nn.Module:
        options: dict = {}
        if name in ("googlenet", "inception_v3"):  # as their builders set them for weights=None, minus the warning
            options = {"init_weights": True, "transform_input": transform_input}
            if aux_logits is not None:
                options["aux_logits"] = aux_logits
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)

    return build


def _timm(spec: str) -> Architecture:
    name = spec[len(TIMM_PREFIX):]
    try:
        import timm
    except ImportError:
        raise UserError(f"--arch {spec} needs timm, which is not installed: pip install 'gradcam-tui[timm]' "
                        "(or pip install timm).") from None
    base = name.split(".")[0]
    if not base or not timm.is_model(base):
        close = difflib.get_close_matches(base, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(TIMM_PREFIX + c for c in close)}?" if close else "; timm.list_models() lists them."
        raise UserError(f"--arch {spec}: timm {timm.__version__} has no model {base!r}{hint}")
    cfg = timm.models.get_pretrained_cfg(name) if hasattr(timm.models, "get_pretrained_cfg") else None
    mean = tuple(float(v) for v in getattr(cfg, "mean", ())) or None
    std = tuple(float(v) for v in getattr(cfg, "std", ())) or None

    def build(num_classes: int, **_: object) -> nn.Module:
        return timm.create_model(name, pretrained=False, num_classes=num_classes)

    return Architecture(spec, build, None, "timm", mean if mean and len(mean) == 3 else None,  # type: ignore[arg-type]
                        std if std and len(std) == 3 else None, name)  # type: ignore[arg-type]


def architecture(name: str) -> Architecture:
    """The architecture --arch NAME means, or one sentence naming what it could have been."""
    if name in ARCHITECTURES:
        build, layer = ARCHITECTURES[name]
        return Architecture(name, lambda n, **_: build(n), layer, "built-in")
    if name.startswith(TIMM_PREFIX):
        return _timm(name)
    builders = torchvision_builders()
    plain = name[len(TORCHVISION_PREFIX):] if name.startswith(TORCHVISION_PREFIX) else name
    if plain in builders:
        return Architecture(name, _torchvision(plain), None, "torchvision", builder=plain)
    known = [*ARCHITECTURES, *builders, *(TORCHVISION_PREFIX + b for b in builders)]
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(f"Unknown --arch {name!r}; {hint}--arch takes cifar_resnet20/32/44/56/110, resnet18/34/50 (CIFAR "
                    "stem), any torchvision classification builder by name (tv_NAME or NAME: convnext_tiny, vit_b_16, "
                    "...), or timm/NAME with timm installed.")
