"""The one batched pass: logits and the Grad-CAM layer's activations from the same forward pass, and the
maps of the true class and the top-k predicted classes of every image.

Linear-head path (engine.gradcam.probe): the maps are one small product of the activations with the head's
weights, inside the inference-mode forward pass, no backward pass. Autograd path: one torch.autograd.grad
per target set per batch. A batch is shared out across CPU lanes (engine.gradcam.lanes); on CUDA
out-of-memory it is split in halves and later batches keep the smaller size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import UserError
from engine.gradcam.lanes import hooked, lane_count, lane_pool, make_lanes, run_on_lanes
from engine.gradcam.methods import cams_by_autograd, cams_from_head
from engine.gradcam.probe import ModelProbe

TOPK = 5


@dataclass
class BatchResult:
    """One batch's results, each field named as the cache member it fills (engine.store.schema)."""

    probs: np.ndarray  # float32 (B, C)
    logits: np.ndarray  # float32 (B, C), non-finite values replaced by 0
    topk_classes: np.ndarray  # int64 (B, K)
    cam_true: np.ndarray  # float32 (B, h, w)
    cam_topk: np.ndarray  # float32 (B, K, h, w)
    finite: np.ndarray  # bool (B,): the model's logits were all finite (counted, not stored)
    images: np.ndarray | None = None  # uint8 (B, H, W, 3): what the cache shows, set by the stream

    def __len__(self) -> int:
        return len(self.probs)

    def members(self) -> dict[str, np.ndarray]:
        """The cache members this batch fills."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "finite" and getattr(self, f.name) is not None}

    @staticmethod
    def concat(parts: list["BatchResult"]) -> "BatchResult":
        if len(parts) == 1:
            return parts[0]
        return BatchResult(**{f.name: None if getattr(parts[0], f.name) is None else
                              np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(BatchResult)})


def to_model_input(batch: np.ndarray | torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> normalised float (B, 3, H, W), as torchvision's ToTensor/convert_image_dtype + Normalize."""
    x = batch if torch.is_tensor(batch) else torch.from_numpy(np.ascontiguousarray(batch))
    x = x.to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def normalisation(mean: tuple[float, float, float], std: tuple[float, float, float], device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, 3, 1, 1)  # noqa: E731
    return as_tensor(mean), as_tensor(std)


def prepare(model: nn.Module, device: torch.device) -> nn.Module:
    """The model as the pass runs it: eval mode, on the device, channels-last."""
    return model.eval().to(device).to(memory_format=torch.channels_last)


class OnePass:
    """The forward + CAM pass, one batch at a time. Use as a context manager (it hooks the layer)."""

    def __init__(self, model: nn.Module, probe: ModelProbe, mean: tuple[float, float, float],
                 std: tuple[float, float, float], device: torch.device, batch_size: int = 256,
                 topk: int = TOPK, method: str = "gradcam") -> None:
        self.model, self.probe, self.device = model, probe, device
        self.topk, self.method, self.batch_size = topk, method, batch_size
        self.mean, self.std = normalisation(mean, std, device)
        self.lanes = make_lanes(model, probe.layer_name, lane_count(device))  # side by side on CPU
        self.notes: list[str] = []
        self._hooks: Any = None
        self._pool: Any = None

    @property
    def cam_path(self) -> str:
        return self.probe.cam_path

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

    def _chunk(self, images: Any, labels: np.ndarray) -> BatchResult:
        """One chunk through the model, its rows shared out across the lanes."""

        def work(lane: Any, rows: slice) -> BatchResult:
            return self._forward(lane.model, images[rows], labels[rows], lane.captured)

        return BatchResult.concat(run_on_lanes(self.lanes, len(labels), work, self._pool))

    def __call__(self, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> BatchResult:
        n = len(labels)
        labels = np.asarray(labels, dtype=np.int64)
        parts: list[BatchResult] = []
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
        return BatchResult.concat(parts)

    def _forward(self, model: nn.Module, images: Any, labels: np.ndarray, captured: dict) -> BatchResult:
        x = to_model_input(images, self.mean, self.std, self.device)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)
        head = self.probe.head
        if head is not None:
            with torch.inference_mode():
                logits = model(x).float()
                act = captured.pop("act")
                top = _clean(logits).topk(min(self.topk, logits.shape[1]), dim=1).indices
                targets = torch.cat([y[:, None], top], dim=1)
                cams = cams_from_head(act.float(), head.to(self.device).float(), targets, self.method)
        else:
            with torch.enable_grad():
                x.requires_grad_(True)
                logits = model(x)
                act = captured.pop("act")
                top = _clean(logits.detach().float()).topk(min(self.topk, logits.shape[1]), dim=1).indices
                targets = torch.cat([y[:, None], top], dim=1)
                cams = cams_by_autograd(act, logits, targets, self.method).detach()
                logits = logits.detach().float()
        finite = torch.isfinite(logits).all(dim=1)
        clean = _clean(logits)
        cams = cams.float().cpu().numpy()
        return BatchResult(
            probs=torch.softmax(clean, dim=1).cpu().numpy().astype(np.float32),
            logits=clean.cpu().numpy().astype(np.float32),
            topk_classes=top.cpu().numpy().astype(np.int64),
            cam_true=cams[:, 0],
            cam_topk=cams[:, 1:],
            finite=finite.cpu().numpy(),
        )


def _clean(logits: torch.Tensor) -> torch.Tensor:
    """Non-finite logits (a broken checkpoint) become 0 so the rest stays defined; they are counted."""
    return torch.nan_to_num(logits, nan=0.0, posinf=0.0, neginf=0.0)
