"""The one batched pass: logits and the Grad-CAM layer's activations from the same forward pass, and the
maps of the true class and the top-k predicted classes of every image, and the contrastive map of the
prediction over the true class (engine.gradcam.methods; zeros where the prediction is right).

Linear-head path (engine.gradcam.probe): the maps are one small product of the activations with the head's
weights, inside the inference-mode forward pass, no backward pass. Autograd path: the forward pass runs
without autograd up to the Grad-CAM layer and records the graph from there to the logits only (a hook makes
the layer's output the graph's leaf), and one batched vector-Jacobian product gives every target's gradient
(engine.gradcam.methods). So memory holds the head's graph, not the whole network's. Both paths also return
the layer's pooled features, and the linear-head path what any class's map needs (engine.gradcam.any_class).

A batch is shared out across CPU lanes (engine.gradcam.lanes). A batch that does not fit is split: on the
CPU the batch size is first capped to what the free memory holds (from the probe's measure of one image),
and on an out-of-memory error, CUDA's or the CPU allocator's, the batch is split in halves and later
batches keep the smaller size. A model that fails on a batch the probe's two images went through is one
sentence, not a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import UserError, brief
from engine.gradcam.any_class import batch_members
from engine.gradcam.device import free_memory_bytes
from engine.gradcam.lanes import hooked, lane_count, lane_pool, make_lanes, run_on_lanes
from engine.gradcam.methods import cams_by_autograd, cams_from_head, contrast_from_head
from engine.gradcam.precision import agreement, autocast, check, cuda_matmul, probe_size
from engine.gradcam.probe import ModelProbe, logits_of
from engine.gradcam.tta import FlipViews, average_logits

TOPK = 5
MEMORY_SHARE = 0.7  # of the free memory, what one batch may take on the CPU


@dataclass
class BatchResult:
    """One batch's results, each field named as the cache member it fills (engine.store.schema)."""

    probs: np.ndarray  # float32 (B, C)
    logits: np.ndarray  # float32 (B, C), non-finite values replaced by 0
    topk_classes: np.ndarray  # int64 (B, K)
    cam_true: np.ndarray  # float32 (B, h, w)
    cam_topk: np.ndarray  # float32 (B, K, h, w)
    finite: np.ndarray  # bool (B,): the model's logits were all finite (counted, not stored)
    cam_contrast: np.ndarray | None = None  # float32 (B, h, w): the map of y_pred - y_true, zeros where right
    images: np.ndarray | None = None  # uint8 (B, H, W, 3): what the cache shows, set by the stream
    features: np.ndarray | None = None  # float16 (B, k): the layer's spatial mean (engine.gradcam.any_class)
    cam_activations: np.ndarray | None = None  # float16 (B, k, h, w), where the run stores them
    cam_all: np.ndarray | None = None  # float16 (B, C, h, w), where the run stores them, over ...
    cam_all_scale: np.ndarray | None = None  # float32 (B,): ... each image's largest map value
    probs_plain: np.ndarray | None = None  # float32 (B, C): the original view's alone, under --tta flip

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
                 topk: int = TOPK, method: str = "gradcam", precision: str = "fp32", tf32: bool = False,
                 any_class: str | None = None, tta: str = "none") -> None:
        check(precision, device, tf32)  # engine.gradcam.precision: refused where the device cannot
        self.model, self.probe, self.device = model, probe, device
        self.precision, self.tf32 = precision, tf32
        self.topk, self.method, self.batch_size = topk, method, batch_size
        self.any_class = any_class  # what to store for any class's map (engine.gradcam.any_class)
        self.mean, self.std = normalisation(mean, std, device)
        self.lanes = make_lanes(model, probe.layer_name, lane_count(device))  # side by side on CPU
        self.notes: list[str] = []
        self.tta = FlipViews(device) if tta == "flip" else None  # engine.gradcam.tta
        self.batched_backward = True  # one vector-Jacobian product for all targets, until a model refuses it
        self._hooks: Any = None
        self._matmul: Any = None
        self._pool: Any = None
        if device.type == "cpu":
            self._fit_to_memory(free_memory_bytes())

    def _fit_to_memory(self, free: int | None) -> None:
        """Cap the batch size so that one batch's floor (the probe's bytes per image, plus the gradients of
        every target on the autograd path) stays within MEMORY_SHARE of the free memory."""
        h, w = self.probe.grid
        per_image = self.probe.bytes_per_image
        if self.probe.head is None:
            per_image += (self.topk + 3) * self.probe.grid_layout.channels * h * w * 4  # + the contrast's
        if not free or per_image <= 0 or self.batch_size * per_image <= MEMORY_SHARE * free:
            return
        fitted = max(1, int(MEMORY_SHARE * free // per_image))
        if fitted < self.batch_size:
            self.batch_size = fitted
            self.notes.append(f"batch size lowered to {fitted} so that one batch fits in the {free / 2**30:.1f} GiB "
                              "of free memory")

    @property
    def cam_path(self) -> str:
        return self.probe.cam_path

    def __enter__(self) -> "OnePass":
        self._matmul = cuda_matmul(self.device, self.tf32)
        self._matmul.__enter__()
        self._hooks = hooked(self.lanes, graph_from_here=self.probe.head is None, copy=self.probe.in_place)
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
        if self._matmul is not None:
            self._matmul.__exit__(kind, exc, tb)
            self._matmul = None

    def _chunk(self, images: Any, labels: np.ndarray) -> BatchResult:
        """One chunk through the model, its rows shared out across the lanes."""

        def work(lane: Any, rows: slice) -> BatchResult:
            return self._forward(lane.model, images[rows], labels[rows], lane.captured)

        return BatchResult.concat(run_on_lanes(self.lanes, len(labels), work, self._pool))

    def agreement(self, images: Any, labels: np.ndarray, done: BatchResult, num_images: int) -> dict[str, Any] | None:
        """This precision (`done`: this batch's results) against fp32 on the batch's first images (the probe
        sample of a run over num_images), run again in fp32; None in fp32, which is exact."""
        if self.precision == "fp32":
            return None
        n = min(len(labels), probe_size(num_images))
        labels = np.asarray(labels[:n], dtype=np.int64)
        reduced = BatchResult(**{f.name: None if getattr(done, f.name) is None else getattr(done, f.name)[:n]
                                 for f in fields(BatchResult)})
        precision, self.precision = self.precision, "fp32"
        try:
            exact = self._chunk(images[:n], labels)
        finally:
            self.precision = precision
        return agreement(precision, reduced, exact)

    def __call__(self, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> BatchResult:
        n = len(labels)
        labels = np.asarray(labels, dtype=np.int64)
        parts: list[BatchResult] = []
        i = 0
        while i < n:
            sl = slice(i, min(n, i + self.batch_size))
            try:
                parts.append(self._chunk(images[sl], labels[sl]))
            except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are handled here
                if not out_of_memory(exc):
                    raise
                self._halve(_memory_of(self.device, exc))
                continue
            i = sl.stop
        return BatchResult.concat(parts)

    def _halve(self, memory: str) -> None:
        """Split the batch after an out-of-memory error of `memory` (CUDA, MPS or the CPU)."""
        if self.batch_size == 1:
            if memory == "the CPU":
                raise UserError("The CPU ran out of memory even with batch size 1; free some memory or use a larger machine.")
            raise UserError(f"{memory} ran out of memory even with batch size 1; try --device cpu.")
        self.batch_size = max(1, self.batch_size // 2)
        what = "Out of memory on the CPU" if memory == "the CPU" else f"{memory} out of memory"
        self.notes.append(f"{what}: batch size lowered to {self.batch_size}")
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _model(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The model's logits on x; its own failure (not memory) as one sentence."""
        try:
            return logits_of(model(x))
        except (KeyboardInterrupt, UserError):
            raise
        except BaseException as exc:  # noqa: BLE001 - the user's forward: an assert, a shape error, sys.exit
            if isinstance(exc, Exception) and out_of_memory(exc):
                raise
            raise UserError(f"The model failed on a batch of {x.shape[0]} images after taking the probe's 2: "
                            f"{type(exc).__name__}: {brief(exc, 160)}; if it takes only some batch sizes, pass "
                            "--batch-size.") from None

    def _forward(self, model: nn.Module, images: Any, labels: np.ndarray, captured: dict) -> BatchResult:
        x = to_model_input(images, self.mean, self.std, self.device)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)
        head, layout = self.probe.head, self.probe.grid_layout
        if head is not None:
            with torch.inference_mode():
                with autocast(self.precision, self.device):  # the forward only; the CAM sums below in fp32
                    logits = self._model(model, x)
                logits = logits.float()
                act = layout.to_grid(captured.pop("act")).float()
                plain = logits
                if self.tta is not None:
                    logits = average_logits(logits, self._mirror(model, x, captured))
                top = _clean(logits).topk(min(self.topk, logits.shape[1]), dim=1).indices
                targets = torch.cat([y[:, None], top], dim=1)
                weight = head.to(self.device).float()  # once per batch, for all three products
                cams = cams_from_head(act, weight, targets, self.method)
                contrast = contrast_from_head(act, weight, top[:, 0], y, self.method)
                extra = batch_members(act, weight, self.any_class, self.method)
        else:
            with torch.no_grad(), autocast(self.precision, self.device):  # no graph up to the layer; its hook
                logits = self._model(model, x)  # records one from there to the logits
            act = captured.pop("act")
            extra = batch_members(layout.to_grid(act.detach()).float(), None, None, self.method)
            plain = logits.detach().float()
            averaged = plain if self.tta is None else average_logits(plain, self._mirror(model, x, captured))
            top = _clean(averaged).topk(min(self.topk, logits.shape[1]), dim=1).indices
            targets = torch.cat([y[:, None], top], dim=1)
            to_grid = layout.to_grid if self.precision == "fp32" else lambda t: layout.to_grid(t).float()  # fp32 sums
            cams, self.batched_backward = cams_by_autograd(act, logits, targets, self.method, to_grid,
                                                           self.batched_backward, contrast=True)
            cams, contrast, logits = cams[:, :-1].detach(), cams[:, -1].detach(), averaged  # the original view's maps
            del act
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
            cam_contrast=contrast.float().cpu().numpy(),
            **extra,
            probs_plain=None if self.tta is None else
            torch.softmax(_clean(plain), dim=1).cpu().numpy().astype(np.float32),
        )

    def _mirror(self, model: nn.Module, x: torch.Tensor, captured: dict) -> torch.Tensor:
        """The mirrored view's logits (engine.gradcam.tta), in this pass's arithmetic."""

        def forward(v: torch.Tensor) -> torch.Tensor:
            with autocast(self.precision, self.device):
                return self._model(model, v)

        return self.tta.logits(model, forward, x, captured, grad_path=self.probe.head is None)


def out_of_memory(exc: BaseException) -> bool:
    """An accelerator's out-of-memory error, or the CPU allocator's (a RuntimeError saying it cannot allocate)."""
    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and (
        "can't allocate memory" in str(exc) or "MPS backend out of memory" in str(exc)))


def _memory_of(device: torch.device, exc: BaseException) -> str:
    if device.type == "mps":
        return "MPS"
    return "CUDA" if isinstance(exc, torch.OutOfMemoryError) else "the CPU"


def _clean(logits: torch.Tensor) -> torch.Tensor:
    """Non-finite logits (a broken checkpoint) become 0 so the rest stays defined; they are counted."""
    return torch.nan_to_num(logits, nan=0.0, posinf=0.0, neginf=0.0)
