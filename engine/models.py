"""Models: the built-in architectures, user factories, TorchScript files, and safe checkpoint loading.

Nothing in a checkpoint runs: state_dicts load with `torch.load(weights_only=True)`, a TorchScript file's
tensors are read from its archive without compiling or running its code (engine.torchscript_weights), and
only a full pickled model, which can run code when loaded, needs the user's explicit `--trust-checkpoint`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision
from torch import nn

from engine.cifar_resnet import DEPTHS, cifar_resnet
from engine.errors import UserError
from engine.torchscript_weights import is_torchscript, read_torchscript_tensors

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "ema")
PREFIXES = ("module.", "_orig_mod.", "model.")


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


# resnet18/34/50 keep their CIFAR stem (as before); tv_resnet* are torchvision's ImageNet ResNets unchanged
ARCHITECTURES: dict[str, tuple[Callable[[int], nn.Module], str]] = {
    **{name: (_torchvision_cifar(name), "layer4") for name in ("resnet18", "resnet34", "resnet50")},
    **{f"tv_{name}": (_torchvision_imagenet(name), "layer4") for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    **{f"cifar_resnet{d}": ((lambda n, d=d: cifar_resnet(d, n)), "layer3") for d in DEPTHS},
}


@dataclass
class LoadedModel:
    model: nn.Module
    default_layer: str | None  # the architecture's Grad-CAM layer, when known
    meta: dict[str, Any]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_checkpoint(path: Path, trust: bool) -> Any:
    if not path.exists():
        raise UserError(f"Checkpoint {path} does not exist.")
    if path.is_dir() or path.stat().st_size == 0:
        raise UserError(f"Checkpoint {path} is {'a folder' if path.is_dir() else 'empty'}, not a PyTorch file.")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if not trust and "weights_only" in str(exc):
            raise UserError(
                f"Checkpoint {path} contains pickled Python objects, not plain weights, and loading it could "
                "run code; pass --trust-checkpoint only if you trust where it came from."
            ) from None
        raise UserError(f"Checkpoint {path} could not be read ({_short(exc)}).") from None
    except Exception as exc:  # noqa: BLE001 - garbage makes the unpickler raise KeyError, IndexError, ... too
        detail = _short(exc) if not isinstance(exc, (KeyError, IndexError)) else f"{type(exc).__name__}: {_short(exc)}"
        raise UserError(f"Checkpoint {path} could not be read: it is truncated or not a PyTorch file ({detail}).") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """A plain state_dict from the usual wrappers ({'state_dict': ...}, {'model': ...}, DataParallel prefixes)."""
    for _ in range(3):
        if isinstance(obj, dict) and not _is_tensor_dict(obj):
            inner = next((obj[k] for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], dict)), None)
            if inner is None:
                return None
            obj = inner
    if not isinstance(obj, dict) or not _is_tensor_dict(obj):
        return None
    sd = dict(obj)
    for prefix in PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _is_tensor_dict(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) for k in d) and all(torch.is_tensor(v) for v in d.values())


def apply_state_dict(model: nn.Module, sd: dict[str, torch.Tensor], what: str, num_classes: int) -> None:
    """Strict load with a one-sentence explanation of missing/unexpected keys or a class-count mismatch."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        raise UserError(f"The checkpoint does not fit {what}: {'; '.join(parts)}.")
    head = _head_rows(sd, own)
    if head is not None and head != num_classes:
        raise UserError(f"The checkpoint's classifier has {head} classes but the data has {num_classes}.")
    bad = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if sd[k].shape != v.shape]
    if bad:
        raise UserError(f"The checkpoint does not fit {what}: shape mismatch at {_few(bad)}.")
    model.load_state_dict(sd, strict=True)


def _head_rows(sd: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> int | None:
    """Rows of the last 2-D weight (the classifier), when its shape differs from the model's."""
    keys = [k for k, v in own.items() if v.ndim == 2 and k in sd]
    if not keys:
        return None
    k = keys[-1]
    return int(sd[k].shape[0]) if sd[k].shape[0] != own[k].shape[0] else None


def _few(items: list[str], n: int = 4) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _user_factory(spec: str) -> tuple[Callable[..., nn.Module], str]:
    if ":" not in spec:
        raise UserError(f"--model {spec!r} should be FILE.py:FACTORY, e.g. my_models.py:build.")
    file, fn = spec.rsplit(":", 1)
    path = Path(file)
    if not path.is_file():
        raise UserError(f"--model file {path} does not exist.")
    mod_spec = importlib.util.spec_from_file_location(f"user_model_{path.stem}", path)
    if mod_spec is None or mod_spec.loader is None:
        raise UserError(f"--model file {path} is not a Python module.")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report, don't crash
        raise UserError(f"--model file {path} failed to import: {type(exc).__name__}: {_short(exc)}.") from None
    factory = getattr(module, fn, None)
    if not callable(factory):
        raise UserError(f"--model file {path} has no callable named {fn!r}.")
    return factory, f"{path.name}:{fn}"


def _call_factory(factory: Callable[..., nn.Module], num_classes: int, label: str) -> nn.Module:
    try:
        params = inspect.signature(factory).parameters
        model = factory(num_classes=num_classes) if "num_classes" in params else factory()
    except Exception as exc:
        raise UserError(f"--model {label} failed: {type(exc).__name__}: {_short(exc)}.") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"--model {label} returned {type(model).__name__}, not a torch.nn.Module.")
    return model


def load_model(
    checkpoint: Path,
    num_classes: int,
    arch: str | None = None,
    model_spec: str | None = None,
    trust_checkpoint: bool = False,
) -> LoadedModel:
    """Build the model and load its weights; every failure is a UserError naming what to fix."""
    checkpoint = Path(checkpoint)
    if arch is not None and model_spec is not None:
        raise UserError("Give either --arch or --model, not both.")
    if arch is not None and arch not in ARCHITECTURES:
        raise UserError(f"Unknown --arch {arch!r}; choose one of {', '.join(ARCHITECTURES)}.")
    meta: dict[str, Any] = {"checkpoint": str(checkpoint)}
    if checkpoint.is_file() and is_torchscript(checkpoint):
        if arch is None and model_spec is None:
            return _load_torchscript(checkpoint, num_classes, meta)
        sd = read_torchscript_tensors(checkpoint)
        meta["checkpoint_sha256"] = file_sha256(checkpoint)
        loaded_as = "TorchScript (its tensors only; none of its code was run)"
    else:
        obj = _read_checkpoint(checkpoint, trust_checkpoint)
        meta["checkpoint_sha256"] = file_sha256(checkpoint)
        if isinstance(obj, nn.Module):  # only reachable with --trust-checkpoint
            meta["arch"] = type(obj).__name__
            meta["loaded_as"] = "pickled module (trusted)"
            return LoadedModel(obj.eval(), _known_layer(obj), meta)
        sd = extract_state_dict(obj)
        if sd is None:
            raise UserError(
                f"Checkpoint {checkpoint} holds no state_dict (looked for a tensor dict, or one under "
                f"{', '.join(WRAPPER_KEYS)})."
            )
        loaded_as = "state_dict (weights_only=True)" if not trust_checkpoint else "state_dict"
    if arch is None and model_spec is None:
        raise UserError("This checkpoint holds weights only: say which network they belong to with --arch or --model.")
    if arch is not None:
        build, layer = ARCHITECTURES[arch]
        model, label = build(num_classes), f"--arch {arch}"
        meta["arch"] = arch
    else:
        factory, label = _user_factory(model_spec)  # type: ignore[arg-type]
        model, layer = _call_factory(factory, num_classes, label), None
        meta["arch"] = label
    apply_state_dict(model, sd, label, num_classes)
    meta["loaded_as"] = loaded_as
    meta["params"] = int(sum(p.numel() for p in model.parameters()))
    if arch is not None:
        meta["batchnorm_folded"] = fold_batchnorm(model.eval())
    return LoadedModel(model.eval(), layer, meta)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold each BatchNorm into the convolution that feeds it (eval-mode maths, ~20% faster on CPU).

    Only for the built-in ResNets, whose forward applies `bnK` straight to `convK`'s output and `downsample`
    is Sequential(conv, bn); logits change by float rounding only (~1e-5). Returns the number folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for module in list(model.modules()):
        for k in ("1", "2", "3", ""):
            conv, bn = getattr(module, f"conv{k}", None), getattr(module, f"bn{k}", None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, f"conv{k}", fuse_conv_bn_eval(conv.eval(), bn.eval()))
                setattr(module, f"bn{k}", nn.Identity())
                folded += 1
        down = getattr(module, "downsample", None)
        if isinstance(down, nn.Sequential) and len(down) == 2 and isinstance(down[0], nn.Conv2d) and isinstance(down[1], nn.BatchNorm2d):
            down[0] = fuse_conv_bn_eval(down[0].eval(), down[1].eval())
            down[1] = nn.Identity()
            folded += 1
    return folded


def _known_layer(model: nn.Module) -> str | None:
    names = dict(model.named_children())
    return "layer4" if "layer4" in names else "layer3" if "layer3" in names else None


def _load_torchscript(path: Path, num_classes: int, meta: dict[str, Any]) -> LoadedModel:
    """The archive's tensors, read without running its code, loaded into the built-in architecture whose
    keys and shapes they fit (Grad-CAM needs a layer hook, which TorchScript modules do not take anyway)."""
    sd = read_torchscript_tensors(path)
    meta["checkpoint_sha256"] = file_sha256(path)
    for name in ARCHITECTURES:
        build, layer = ARCHITECTURES[name]
        model = build(num_classes)
        own = model.state_dict()
        if set(own) == set(sd) and all(own[k].shape == sd[k].shape for k in own):
            model.load_state_dict(sd)
            meta.update(arch=name, loaded_as="TorchScript (its tensors only; none of its code was run)")
            meta["params"] = int(sum(p.numel() for p in model.parameters()))
            meta["batchnorm_folded"] = fold_batchnorm(model.eval())
            return LoadedModel(model.eval(), layer, meta)
    raise UserError(
        f"TorchScript file {path} does not hold the weights of a built-in architecture; say which network they "
        "belong to with --arch or --model FILE.py:FACTORY."
    )
