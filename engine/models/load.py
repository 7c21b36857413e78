"""load_model: the network and its weights from --arch / --model and --checkpoint, or one sentence why not.

Nothing in a checkpoint runs: state_dicts load with `torch.load(weights_only=True)`, a TorchScript file's
tensors are read from its archive without compiling or running its code (torchscript.py), and only a
full pickled model, which can run code when loaded, needs the user's explicit `--trust-checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from engine.errors import UserError, brief
from engine.models.architectures import ARCHITECTURES, AUX_HEADS, Architecture, architecture
from engine.models.batchnorm import fold_batchnorm
from engine.models.checkpoints import WRAPPER_KEYS, apply_state_dict, extract_state_dict, file_sha256, read_checkpoint
from engine.models.factory import call_factory, user_factory
from engine.models.torchscript import is_torchscript, read_torchscript_tensors

Triple = tuple[float, float, float]


@dataclass
class LoadedModel:
    model: nn.Module
    default_layer: str | None  # the architecture's Grad-CAM layer, when it fixes one (else the probe chooses)
    meta: dict[str, Any]
    mean: Triple | None = None  # the architecture's own normalisation (timm's), when it has one
    std: Triple | None = None


def load_model(
    checkpoint: Path,
    num_classes: int,
    arch: str | None = None,
    model_spec: str | None = None,
    trust_checkpoint: bool = False,
    weights: str | None = None,
) -> LoadedModel:
    """Build the model and load its weights; every failure is a UserError naming what to fix. `weights` (a
    torchvision weights name, --weights) sets the builder options that go with those weights."""
    checkpoint = Path(checkpoint)
    if arch is not None and model_spec is not None:
        raise UserError("Give either --arch or --model, not both.")
    spec = architecture(arch) if arch is not None else None  # an unknown name fails before any file is read
    meta: dict[str, Any] = {"checkpoint": str(checkpoint)}
    if checkpoint.is_file() and is_torchscript(checkpoint):
        if arch is None and model_spec is None:
            return _load_torchscript(checkpoint, num_classes, meta)
        sd = read_torchscript_tensors(checkpoint)
        meta["checkpoint_sha256"] = file_sha256(checkpoint)
        loaded_as = "TorchScript (its tensors only; none of its code was run)"
    else:
        obj = read_checkpoint(checkpoint, trust_checkpoint)
        meta["checkpoint_sha256"] = file_sha256(checkpoint)
        if isinstance(obj, nn.Module):  # only reachable with --trust-checkpoint
            meta["arch"] = type(obj).__name__
            meta["loaded_as"] = "pickled module (trusted)"
            return LoadedModel(obj.eval(), None, meta)
        sd = extract_state_dict(obj)
        if sd is None:
            raise UserError(
                f"Checkpoint {checkpoint} holds no state_dict (looked for a tensor dict, or one under "
                f"{', '.join(WRAPPER_KEYS)})."
            )
        loaded_as = "state_dict (weights_only=True)" if not trust_checkpoint else "state_dict"
    if arch is None and model_spec is None:
        raise UserError("This checkpoint holds weights only: say which network they belong to with --arch or --model.")
    if spec is not None:
        label = f"--arch {arch}"
        model = _fit_aux_heads(spec, _build(spec, num_classes, label, spec.options(weights)), sd, num_classes, label,
                               spec.options(weights))
        meta["arch"] = arch
        if spec.source != "built-in":
            meta["arch_source"] = f"{spec.source} {spec.builder}"
    else:
        factory, label = user_factory(model_spec)  # type: ignore[arg-type]
        model = call_factory(factory, num_classes, label)
        meta["arch"] = label
    apply_state_dict(model, sd, label, num_classes)
    meta["loaded_as"] = loaded_as
    meta["params"] = int(sum(p.numel() for p in model.parameters()))
    if spec is not None and spec.name in ARCHITECTURES:
        meta["batchnorm_folded"] = fold_batchnorm(model.eval())
    if spec is not None and spec.mean is not None:
        meta["normalisation_default"] = f"{spec.source} pretrained_cfg of {spec.builder}"
    return LoadedModel(model.eval(), spec.layer if spec else None, meta, spec.mean if spec else None,
                       spec.std if spec else None)


def _build(spec: Architecture, num_classes: int, label: str, options: dict) -> nn.Module:
    try:
        return spec.build(num_classes, **options)
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - a builder that rejects these options or this class count
        raise UserError(f"{label} could not be built for {num_classes} classes: {type(exc).__name__}: {brief(exc)}.") from None


def _fit_aux_heads(spec: Architecture, model: nn.Module, sd: dict, num_classes: int, label: str, options: dict) -> nn.Module:
    """GoogLeNet and Inception-v3 are built with their training-only auxiliary heads (as torchvision builds
    them without weights); a checkpoint saved without those heads gets a model built without them."""
    if not hasattr(model, "aux_logits"):
        return model
    missing = [k for k in model.state_dict() if k not in sd]
    if missing and all(k.startswith(AUX_HEADS) for k in missing):
        return _build(spec, num_classes, label, {**options, "aux_logits": False})
    return model


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
