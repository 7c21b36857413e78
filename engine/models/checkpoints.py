"""Reading a checkpoint without running it: torch.load(weights_only=True), the usual wrappers and prefixes,
and a strict load that says in one sentence which keys or shapes do not fit.

A full pickled model (an nn.Module saved whole) can run code when unpickled, so it loads only with the
user's explicit --trust-checkpoint.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import UserError, brief

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "ema")
PREFIXES = ("module.", "_orig_mod.", "model.")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_checkpoint(path: Path, trust: bool) -> Any:
    if not path.exists():
        raise UserError(f"Checkpoint {path} does not exist.")
    if path.is_dir() or path.stat().st_size == 0:
        raise UserError(f"Checkpoint {path} is {'a folder' if path.is_dir() else 'empty'}, not a PyTorch file.")
    try:
        with warnings.catch_warnings():  # torch's notes about sparse tensors it validates: not the user's news
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if not trust and "weights_only" in str(exc):
            raise UserError(
                f"Checkpoint {path} contains pickled Python objects, not plain weights, and loading it could "
                "run code; pass --trust-checkpoint only if you trust where it came from."
            ) from None
        raise UserError(f"Checkpoint {path} could not be read ({brief(exc)}).") from None
    except Exception as exc:  # noqa: BLE001 - garbage makes the unpickler raise KeyError, IndexError, ... too
        detail = brief(exc) if not isinstance(exc, (KeyError, IndexError)) else f"{type(exc).__name__}: {brief(exc)}"
        raise UserError(f"Checkpoint {path} could not be read: it is truncated or not a PyTorch file ({detail}).") from None


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


def unusable_tensor(sd: dict[str, torch.Tensor], what: str) -> str | None:
    """One sentence on the first tensor that a plain model cannot take: sparse, on the meta device (a shape
    without values) or quantized; None when every tensor is an ordinary dense one."""
    for key, value in sd.items():
        if value.layout != torch.strided:
            layout = str(value.layout).replace("torch.", "")
            return (f"The checkpoint's tensor {key!r} is {layout} (sparse), which {what} cannot load; save its "
                    "weights dense ({k: v.to_dense() for k, v in state_dict.items()}).")
        if value.is_meta:
            return (f"The checkpoint's tensor {key!r} is on the meta device: it has a shape but no values (it was "
                    "saved from a model that was never given weights); save the trained model's state_dict.")
        if value.is_quantized:
            dtype = str(value.dtype).replace("torch.", "")
            return (f"The checkpoint's tensor {key!r} is quantized ({dtype}), but {what} is a float model; save the "
                    "float model's state_dict, or dequantize the tensors (tensor.dequantize()).")
    return None


def apply_state_dict(model: nn.Module, sd: dict[str, torch.Tensor], what: str, num_classes: int) -> None:
    """Strict load with a one-sentence explanation of missing/unexpected keys, a class-count mismatch, or a
    tensor of a kind a plain model cannot hold."""
    problem = unusable_tensor(sd, what)
    if problem:
        raise UserError(problem)
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
    try:
        model.load_state_dict(sd, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise UserError(f"The checkpoint could not be loaded into {what}: {brief(exc, 240).rstrip('.:')}.") from None


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
