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

from engine.errors import UserError
from engine.models.architectures import ARCHITECTURES, known_layer
from engine.models.batchnorm import fold_batchnorm
from engine.models.checkpoints import WRAPPER_KEYS, apply_state_dict, extract_state_dict, file_sha256, read_checkpoint
from engine.models.factory import call_factory, user_factory
from engine.models.torchscript import is_torchscript, read_torchscript_tensors


@dataclass
class LoadedModel:
    model: nn.Module
    default_layer: str | None  # the architecture's Grad-CAM layer, when known
    meta: dict[str, Any]


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
        obj = read_checkpoint(checkpoint, trust_checkpoint)
        meta["checkpoint_sha256"] = file_sha256(checkpoint)
        if isinstance(obj, nn.Module):  # only reachable with --trust-checkpoint
            meta["arch"] = type(obj).__name__
            meta["loaded_as"] = "pickled module (trusted)"
            return LoadedModel(obj.eval(), known_layer(obj), meta)
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
        factory, label = user_factory(model_spec)  # type: ignore[arg-type]
        model, layer = call_factory(factory, num_classes, label), None
        meta["arch"] = label
    apply_state_dict(model, sd, label, num_classes)
    meta["loaded_as"] = loaded_as
    meta["params"] = int(sum(p.numel() for p in model.parameters()))
    if arch is not None:
        meta["batchnorm_folded"] = fold_batchnorm(model.eval())
    return LoadedModel(model.eval(), layer, meta)


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
