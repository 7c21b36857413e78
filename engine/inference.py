"""One batched forward pass: logits and the Grad-CAM layer's activations together, Grad-CAM per batch.

Fast path: when the layer's output goes through global-average-pooling into a linear head that gives
the logits, d y_c / d A_k = W[c, k] / (h w) everywhere, so Grad-CAM for any class is one small product
with the head's weights (no backward pass). Otherwise one `torch.autograd.grad` per target set per batch.

`OnePass` takes batches as they come (from a DataLoader, one process's shard); `run_pass` is the same pass
over an array in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from engine.cam_methods import METHODS, cam
from engine.cpu_lanes import hooked, lane_count, lane_pool, make_lanes, run_on_lanes
from engine.errors import UserError

TOPK = 5


@dataclass
class PassResult:
    probs: np.ndarray  # float32 (N, C)
    logits: np.ndarray  # float32 (N, C), non-finite values replaced by 0
    topk_classes: np.ndarray  # int64 (N, K)
    cam_true: np.ndarray  # float32 (N, h, w)
    cam_topk: np.ndarray  # float32 (N, K, h, w)
    cam_path: str  # "linear-head" or "autograd"
    batch_size: int
    nonfinite_images: int
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class HeadInfo:
    weight: torch.Tensor  # (C, k)


def resolve_device(requested: str | None) -> torch.device:
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UserError(f"--device {requested!r} is not a device name (try cpu, cuda, cuda:1).") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {requested} was asked for, but this machine has no CUDA GPU available to PyTorch.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {requested!r} is not supported; use cpu or cuda.")
    return device


def find_layer(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or not name:
        tops = [n for n, _ in model.named_children()]
        raise UserError(f"The model has no layer {name!r}; its top-level layers are {', '.join(tops)}.")
    return modules[name]


def default_layer(model: nn.Module, probe: torch.Tensor) -> str:
    """The last top-level child whose output is a 4-D feature map (the last convolutional stage)."""
    last: list[str] = []
    hooks = [
        child.register_forward_hook(lambda m, i, o, n=name: last.append(n) if torch.is_tensor(o) and o.ndim == 4 else None)
        for name, child in model.named_children()
    ]
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for h in hooks:
            h.remove()
    if not last:
        raise UserError("Could not find a convolutional layer for Grad-CAM; name one with --target-layer.")
    return last[-1]


def detect_linear_head(model: nn.Module, layer: nn.Module, probe: torch.Tensor) -> HeadInfo | None:
    """The head's weights if `layer` -> global-average-pool -> linear is exactly how the logits are made."""
    seen: dict[str, object] = {}
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not pools or not linears:
        return None
    hooks = [layer.register_forward_hook(lambda m, i, o: seen.__setitem__("act", o))]
    hooks += [p.register_forward_hook(lambda m, i, o: seen.setdefault("pool_in", []).append((m, i[0], o))) for p in pools]
    hooks += [l.register_forward_hook(lambda m, i, o: seen.setdefault("lin", []).append((m, i[0], o))) for l in linears]
    try:
        with torch.no_grad():
            logits = model(probe)
    finally:
        for h in hooks:
            h.remove()
    act = seen.get("act")
    if not torch.is_tensor(act) or act.ndim != 4:
        return None
    pool = next((p for p in seen.get("pool_in", []) if p[1] is act), None)  # type: ignore[union-attr]
    lin = next((l for l in seen.get("lin", []) if l[2] is logits), None)  # type: ignore[union-attr]
    if pool is None or lin is None or tuple(pool[0].output_size if isinstance(pool[0].output_size, tuple) else (pool[0].output_size,) * 2) != (1, 1):
        return None
    head: nn.Linear = lin[0]
    recomputed = act.float().mean(dim=(2, 3)) @ head.weight.float().T
    if head.bias is not None:
        recomputed = recomputed + head.bias.float()
    if not torch.allclose(recomputed, logits.float(), rtol=1e-4, atol=1e-4):
        return None
    return HeadInfo(weight=head.weight.detach())


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def to_model_input(batch: np.ndarray | torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> normalised float (B, 3, H, W), as torchvision's ToTensor/convert_image_dtype + Normalize."""
    x = batch if torch.is_tensor(batch) else torch.from_numpy(np.ascontiguousarray(batch))
    x = x.to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def cams_from_head(act: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor, method: str = "gradcam") -> torch.Tensor:
    """CAMs (before normalisation) for classes (B, T) from activations (B, k, h, w) when d y_c / d A = W[c] / (h w)."""
    h, w = act.shape[-2:]
    grads = weight[classes].to(act.dtype) / (h * w)  # (B, T, k)
    if method == "gradcam":  # the common case as one product
        return torch.relu(torch.einsum("btk,bkhw->bthw", grads, act))
    return torch.stack([cam(method, act, grads[:, t, :, None, None]) for t in range(classes.shape[1])], dim=1)


def cams_by_autograd(act: torch.Tensor, logits: torch.Tensor, classes: torch.Tensor, method: str = "gradcam") -> torch.Tensor:
    """CAMs with per-sample targets: one autograd.grad per target column."""
    maps = []
    for t in range(classes.shape[1]):
        score = logits.gather(1, classes[:, t : t + 1]).sum()
        (grad,) = torch.autograd.grad(score, act, retain_graph=t < classes.shape[1] - 1)
        maps.append(cam(method, act.detach(), grad))
    return torch.stack(maps, dim=1)


class OnePass:
    """The forward + CAM pass, one batch at a time. Use as a context manager (it hooks the layer).

    Each call returns, for its batch, probs, logits, topk, cam_true, cam_topk and finite (numpy arrays);
    on CUDA out-of-memory the batch is split in halves, and later batches keep the smaller size.
    """

    def __init__(
        self,
        model: nn.Module,
        probe_images: Any,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        layer_name: str,
        device: torch.device,
        batch_size: int = 256,
        topk: int = TOPK,
        force_autograd: bool = False,
        method: str = "gradcam",
    ) -> None:
        if method not in METHODS:
            raise UserError(f"Unknown CAM method {method!r}; choose one of {', '.join(METHODS)}.")
        self.model = model.eval().to(device).to(memory_format=torch.channels_last)
        self.device, self.topk, self.method, self.batch_size = device, topk, method, batch_size
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.layer = find_layer(self.model, layer_name)
        probe = to_model_input(np.asarray(probe_images[:2]), self.mean, self.std, device)
        self.head = None if force_autograd else detect_linear_head(self.model, self.layer, probe)
        self.lanes = make_lanes(self.model, layer_name, lane_count(device))  # side by side on CPU
        self.notes: list[str] = []
        self._hooks: Any = None
        self._pool: Any = None

    @property
    def cam_path(self) -> str:
        return "linear-head" if self.head is not None else "autograd"

    def __enter__(self) -> "OnePass":
        self._hooks = hooked(self.lanes)
        self._hooks.__enter__()
        self._pool = lane_pool(self.lanes)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._hooks is not None:
            self._hooks.__exit__(kind, exc, tb)
            self._hooks = None

    def _chunk(self, images: Any, labels: np.ndarray) -> dict[str, np.ndarray]:
        """One chunk through the model, its rows shared out across the lanes."""

        def work(lane: Any, rows: slice) -> dict[str, np.ndarray]:
            return _forward_chunk(lane.model, images[rows], labels[rows], self.mean, self.std, self.device,
                                  self.head, lane.captured, self.topk, self.method)

        parts = run_on_lanes(self.lanes, len(labels), work, self._pool)
        return parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def __call__(self, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        n = len(labels)
        labels = np.asarray(labels, dtype=np.int64)
        parts: list[dict[str, np.ndarray]] = []
        i = 0
        while i < n:
            sl = slice(i, min(n, i + self.batch_size))
            try:
                parts.append(self._chunk(images[sl], labels[sl]))
            except torch.OutOfMemoryError:
                if self.batch_size == 1:
                    raise UserError("CUDA ran out of memory even with batch size 1; try --device cpu.") from None
                self.batch_size = max(1, self.batch_size // 2)
                self.notes.append(f"CUDA out of memory: batch size lowered to {self.batch_size}")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            i = sl.stop
        out = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        cams = out.pop("cams")
        out["cam_true"], out["cam_topk"] = cams[:, 0], cams[:, 1:]
        return out


def run_pass(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    layer_name: str,
    device: torch.device,
    batch_size: int = 256,
    topk: int = TOPK,
    on_progress: Callable[[int], None] | None = None,
    force_autograd: bool = False,
    method: str = "gradcam",
) -> PassResult:
    """Forward every image of an in-memory array once; keep softmax, top-k and Grad-CAM for the true and top-k classes."""
    started = time.perf_counter()
    n = len(labels)
    out: dict[str, np.ndarray] = {}
    with OnePass(model, images, mean, std, layer_name, device, batch_size, topk, force_autograd, method) as one:
        for sl in _batches(n, batch_size):
            chunk = one(images[sl], labels[sl])
            for key, value in chunk.items():
                if key not in out:
                    out[key] = np.empty((n, *value.shape[1:]), dtype=value.dtype)
                out[key][sl] = value
            if on_progress:
                on_progress(sl.stop - sl.start)
    return PassResult(
        probs=out["probs"],
        logits=out["logits"],
        topk_classes=out["topk"],
        cam_true=out["cam_true"],
        cam_topk=out["cam_topk"],
        cam_path=one.cam_path,
        batch_size=one.batch_size,
        nonfinite_images=int((~out["finite"]).sum()),
        seconds=time.perf_counter() - started,
        notes=one.notes,
    )


def _clean(logits: torch.Tensor) -> torch.Tensor:
    """Non-finite logits (a broken checkpoint) become 0 so the rest stays defined; they are counted."""
    return torch.nan_to_num(logits, nan=0.0, posinf=0.0, neginf=0.0)


def _forward_chunk(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    head: HeadInfo | None,
    captured: dict[str, torch.Tensor],
    topk: int,
    method: str,
) -> dict[str, np.ndarray]:
    x = to_model_input(images, mean, std, device)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    if head is not None:
        with torch.inference_mode():
            logits = model(x).float()
            act = captured.pop("act")
            top = _clean(logits).topk(min(topk, logits.shape[1]), dim=1).indices
            targets = torch.cat([y[:, None], top], dim=1)
            cams = cams_from_head(act.float(), head.weight.to(device).float(), targets, method)
    else:
        with torch.enable_grad():
            x.requires_grad_(True)
            logits = model(x)
            act = captured.pop("act")
            top = _clean(logits.detach().float()).topk(min(topk, logits.shape[1]), dim=1).indices
            targets = torch.cat([y[:, None], top], dim=1)
            cams = cams_by_autograd(act, logits, targets, method).detach()
            logits = logits.detach().float()
    finite = torch.isfinite(logits).all(dim=1)
    clean = _clean(logits)
    return {
        "probs": torch.softmax(clean, dim=1).cpu().numpy().astype(np.float32),
        "logits": clean.cpu().numpy().astype(np.float32),
        "topk": top.cpu().numpy().astype(np.int64),
        "cams": cams.float().cpu().numpy(),
        "finite": finite.cpu().numpy(),
    }
