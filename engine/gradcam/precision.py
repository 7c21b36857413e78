"""The arithmetic of the forward pass: fp32 (the default, exact), or a bf16/fp16 autocast forward where the
device does that arithmetic natively; TF32 matrix products on CUDA only as an explicit choice.

Only the model's forward runs under autocast; the Grad-CAM sums (the head's product, the gradients'
weighted sum) are taken in fp32 from the reduced-precision activations and gradients. Because a reduced
precision changes numbers, the pass measures its effect on a probe sample of its first batch against fp32
(`agreement`): predictions that change, the largest probability difference, and the rank correlation of
the true-class maps; the run prints it and records it in the cache metadata.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, ContextManager, Iterator

import numpy as np
import torch

from engine.errors import UserError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# the probe sample: the first batch's first images, run a second time in fp32; about 1/40 of the images
# (its cost stays a few percent of a reduced-precision pass), at least 64 and at most 256
PROBE_MIN, PROBE_MAX, PROBE_SHARE = 64, 256, 40
CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}


def probe_size(num_images: int) -> int:
    """How many images the check against fp32 takes in a run over num_images."""
    return min(num_images, max(PROBE_MIN, min(PROBE_MAX, num_images // PROBE_SHARE)))


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty where /proc/cpuinfo is not there)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def _onednn_supports(precision: str) -> bool:
    """Whether this PyTorch's oneDNN has CPU kernels of the type (False on builds without oneDNN)."""
    try:
        ops = torch.ops.mkldnn
        return bool(ops._is_mkldnn_bf16_supported() if precision == "bf16" else ops._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def unsupported(precision: str, device: torch.device, tf32: bool = False) -> str | None:
    """Why this device cannot run `precision` (and `tf32`) natively, in one sentence; None when it can."""
    if tf32 and device.type != "cuda":
        return f"--tf32 is a CUDA setting (TensorFloat-32 matrix units); this run is on {device.type}, where fp32 is already exact."
    if tf32 and precision != "fp32":
        return f"--tf32 applies to fp32 only; --precision {precision} already computes the forward in {precision}."
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            return f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16 arithmetic; use fp16 or fp32."
        return None
    if device.type == "cpu":
        native = CPU_FLAGS[precision]
        flags = cpu_flags()
        if _onednn_supports(precision) and flags & set(native):
            return None
        return (f"--precision {precision}: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native "
                f"{precision} arithmetic ({' or '.join(native)}), where it would be slower than fp32; use --precision fp32.")
    return f"--precision {precision} is offered on CUDA and on CPUs with native {precision}; use fp32 on {device.type}."


def check(precision: str, device: torch.device, tf32: bool = False) -> None:
    why = unsupported(precision, device, tf32)
    if why:
        raise UserError(why)


def autocast(precision: str, device: torch.device) -> ContextManager[Any]:
    """The context the model's forward runs in (thread-local: entered in each lane's own thread)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


@contextmanager
def cuda_matmul(device: torch.device, tf32: bool) -> Iterator[None]:
    """TF32 on CUDA as asked, and off otherwise (cuDNN's convolutions allow it by default, which would make
    "fp32" inexact); the previous settings come back afterwards."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's correlation uses."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse.ravel()]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's correlation of two maps; NaN when either is constant (no order to compare)."""
    ra, rb = ranks(a.ravel()), ranks(b.ravel())
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(precision: str, reduced: Any, exact: Any) -> dict[str, Any]:
    """The reduced-precision results of a probe sample against fp32's (both engine.gradcam.one_pass
    BatchResults of the same images): what the cache records and the run prints."""
    changed = int((reduced.topk_classes[:, 0] != exact.topk_classes[:, 0]).sum())
    corr = np.array([rank_correlation(r, e) for r, e in zip(reduced.cam_true, exact.cam_true)])
    corr = corr[np.isfinite(corr)]
    return {
        "precision": precision,
        "probe_images": len(exact),
        "predictions_changed": changed,
        "max_probability_difference": round(float(np.abs(reduced.probs - exact.probs).max()), 6),
        "map_rank_correlation_median": round(float(np.median(corr)), 4) if len(corr) else None,
        "map_rank_correlation_min": round(float(corr.min()), 4) if len(corr) else None,
        "maps_compared": int(len(corr)),
    }


def describe(measured: dict[str, Any]) -> str:
    """One line for the terminal."""
    n, corr = measured["probe_images"], measured["map_rank_correlation_median"]
    maps = (f"true-class map rank correlation median {corr:.3f} (lowest {measured['map_rank_correlation_min']:.3f})"
            if corr is not None else "no true-class map to compare (all constant)")
    return (f"{measured['precision']} vs fp32 on the first {n} images: {measured['predictions_changed']} of {n} top-1 "
            f"predictions changed, largest probability difference {measured['max_probability_difference']:.4f}, {maps}.")
