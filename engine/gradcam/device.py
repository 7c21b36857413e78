"""The device a run asks for, checked against what this machine has."""

from __future__ import annotations

import torch

from engine.errors import UserError


def resolve_device(requested: str | None) -> torch.device:
    """`auto` (or None) picks CUDA when present; anything else must name a device this machine has (cpu,
    cuda[:N], or mps on a Mac whose PyTorch has it)."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UserError(f"--device {requested!r} is not a device name (try cpu, cuda, cuda:1).") from None
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        raise UserError(f"--device {requested} was asked for, but this machine has no Apple GPU (MPS) available to "
                        "PyTorch; use cpu" + (" or cuda." if torch.cuda.is_available() else "."))
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {requested!r} is not supported; use cpu, cuda or (on a Mac) mps.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {requested} was asked for, but this machine has no CUDA GPU available to PyTorch.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return device


def free_memory_bytes() -> int | None:
    """Memory this machine can still give (Linux's MemAvailable), or None where that is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
