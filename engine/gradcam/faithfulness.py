"""Faithfulness of the predicted-class map, measured on the model: does removing what the map highlights
change the prediction?

Deletion and insertion (Petsiuk et al. 2018) at the map's native cells: the cells are ranked by the map's
value (highest first, ties by cell index) and, over `steps` steps, the top cells are replaced by the
baseline (deletion) or revealed from an all-baseline image (insertion); at every step the predicted
class's softmax probability is recorded. The baseline is the model's normalisation mean colour, i.e. 0
after normalisation (the data set's mean colour when the model was normalised by it, as for CIFAR-100).
Cell (i, j) of an h x w map covers the input pixels (y, x) with floor(y h / H) = i and floor(x w / W) = j.

Confidence change (Chattopadhay et al. 2018, as pytorch-grad-cam's CamMultImageConfidenceChange): the
normalised input multiplied by the map, min-max scaled to [0, 1] on its cells and upsampled bilinearly to
the input (so unlit pixels also go to the mean colour); the predicted class's probability after.

Every step of many images runs as one big batch under inference mode, in the pass's precision. Nothing
here is derived beyond those probabilities: the AUCs, drops and per-class intervals are engine.analysis's.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.gradcam.lanes import Lane, lane_count, lane_pool, make_lanes, run_on_lanes
from engine.gradcam.one_pass import out_of_memory, to_model_input
from engine.gradcam.precision import autocast
from engine.gradcam.probe import logits_of

# deletion/insertion steps: one per cell up to this many cells, else equal groups of cells; an image costs
# 2 x steps forwards, which keeps --faithfulness's default sample within 2.5x the plain run's wall
MAX_STEPS = 8
SEED = 0


def stratified_sample(labels: np.ndarray, per_class: int | None, seed: int = SEED) -> np.ndarray:
    """Up to per_class images of every (given) class, drawn without replacement, seeded; None: every image.
    Sorted image ids, int64."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels), dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.nonzero(labels == c)[0], size=min(per_class, int((labels == c).sum())), replace=False)
              for c in np.unique(labels)]
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, dtype=np.int64)


def step_count(cells: int, max_steps: int = MAX_STEPS) -> int:
    return max(1, min(cells, max_steps))


def cell_masks(maps: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, h, w) maps -> (B, steps + 1, h, w) float 0/1: which cells are among the top (k cells / steps) at
    step k (the k * cells // steps highest cells; ties by cell index)."""
    b, h, w = maps.shape
    cells = h * w
    flat = maps.reshape(b, cells).float()
    order = torch.sort(-flat, dim=1, stable=True).indices  # highest first, ties by index
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(cells, device=maps.device).expand(b, cells))
    counts = torch.tensor([k * cells // steps for k in range(steps + 1)], device=maps.device)
    return (rank[:, None, :] < counts[None, :, None]).float().reshape(b, steps + 1, h, w)


def to_pixels(cell_values: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(..., h, w) per-cell values -> (..., H, W): each pixel takes its cell's value (see the module doc)."""
    h, w = cell_values.shape[-2:]
    rows = (torch.arange(hw[0], device=cell_values.device) * h) // hw[0]
    cols = (torch.arange(hw[1], device=cell_values.device) * w) // hw[1]
    return cell_values[..., rows[:, None], cols[None, :]]


def unit_maps(maps: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) maps min-max scaled to [0, 1] on their cells (pytorch-grad-cam's scale_cam_image: a constant
    map becomes 0) and upsampled bilinearly to (B, H, W)."""
    m = maps.float()
    m = m - m.amin(dim=(1, 2), keepdim=True)
    m = m / (1e-7 + m.amax(dim=(1, 2), keepdim=True))
    return F.interpolate(m[:, None], size=hw, mode="bilinear", align_corners=False)[:, 0]


@dataclass
class FaithResult:
    """Per sampled image: the predicted class's probability along the two curves and after the map's mask."""

    index: np.ndarray  # int64 (M,) image ids
    deletion: np.ndarray  # float32 (M, S + 1): step 0 is the image itself, step S all baseline
    insertion: np.ndarray  # float32 (M, S + 1): step 0 all baseline, step S the image itself
    masked: np.ndarray  # float32 (M,): the image times its upsampled map
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return self.deletion.shape[1] - 1


class Probabilities:
    """The model's softmax probability of given classes on normalised inputs, in big batches, shared out
    across the pass's CPU lanes (engine.gradcam.lanes: replicas side by side beat intra-op threads on
    small convolutions). Inference mode and autocast are entered in each lane's own thread."""

    def __init__(self, model: nn.Module, device: torch.device, precision: str, rows: int,
                 lanes: list[Lane] | None = None) -> None:
        self.device, self.precision, self.rows = device, precision, max(1, rows)
        self.lanes = lanes or make_lanes(model, "", lane_count(device))  # "" names the model itself
        self.pool = lane_pool(self.lanes)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def _logits(self, part: torch.Tensor) -> torch.Tensor:
        def work(lane: Lane, rows: slice) -> torch.Tensor:
            with torch.inference_mode(), autocast(self.precision, self.device):
                return logits_of(lane.model(part[rows])).float()

        return torch.cat(run_on_lanes(self.lanes, part.shape[0], work, self.pool))

    def __call__(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Rows at a time; out of memory halves the rows (for the rest of the run) and tries again."""
        out, start = [], 0
        while start < x.shape[0]:
            stop = min(x.shape[0], start + self.rows)
            part = x[start:stop].contiguous(memory_format=torch.channels_last)
            try:
                logits = self._logits(part)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are handled here
                if not out_of_memory(exc) or self.rows == 1:
                    raise
                self.rows = max(1, self.rows // 2)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            logits = torch.nan_to_num(logits, nan=0.0, posinf=0.0, neginf=0.0)
            out.append(torch.softmax(logits, dim=1).gather(1, classes[start:stop, None])[:, 0])
            start = stop
        return torch.cat(out) if out else torch.zeros(0, device=self.device)


def measure_batch(prob: Probabilities, x: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor, steps: int,
                  baseline_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One chunk: x (B, 3, H, W) normalised, maps (B, h, w), classes (B,). The unique inputs (deletion steps
    0..S-1, insertion steps 1..S-1, the masked image) go through the model as one batch; the all-baseline
    image's probabilities (baseline_p, (C,)) are shared by every image."""
    b, hw = x.shape[0], (int(x.shape[2]), int(x.shape[3]))
    top = to_pixels(cell_masks(maps, steps), hw)[:, :, None]  # (B, S+1, 1, H, W): the top cells at step k
    deleted = x[:, None] * (1.0 - top[:, :steps])  # steps 0..S-1
    inserted = x[:, None] * top[:, 1:steps]  # steps 1..S-1
    masked = x * unit_maps(maps, hw)[:, None]
    batch = torch.cat([deleted.reshape(-1, *x.shape[1:]), inserted.reshape(-1, *x.shape[1:]), masked])
    per = torch.cat([classes.repeat_interleave(steps), classes.repeat_interleave(steps - 1), classes])
    p = prob(batch, per)
    p_del = p[: b * steps].reshape(b, steps)
    p_ins = p[b * steps : b * steps + b * (steps - 1)].reshape(b, steps - 1)
    p_base = baseline_p[classes][:, None]
    deletion = torch.cat([p_del, p_base], dim=1)
    insertion = torch.cat([p_base, p_ins, p_del[:, :1]], dim=1)
    return deletion, insertion, p[-b:]


def measure(model: nn.Module, images: Any, index: np.ndarray, maps: np.ndarray, classes: np.ndarray,
            mean: tuple[float, float, float], std: tuple[float, float, float], device: torch.device,
            precision: str = "fp32", rows: int = 256, max_steps: int = MAX_STEPS,
            on_progress: Callable[[int], None] | None = None, lanes: list[Lane] | None = None) -> FaithResult:
    """Deletion, insertion and confidence change for images[index] (uint8 (N, H, W, 3), at the model's input
    size), their maps (M, h, w) and classes (M,). `model` is in eval mode on `device` (the pass's); `lanes`:
    the pass's CPU lanes, without their hooks (made afresh when not given)."""
    started = time.perf_counter()
    index = np.asarray(index, dtype=np.int64)
    m, (h, w) = len(index), maps.shape[1:]
    steps = step_count(h * w, max_steps)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    prob = Probabilities(model, device, precision, rows, lanes)
    deletion = np.zeros((m, steps + 1), dtype=np.float32)
    insertion = np.zeros((m, steps + 1), dtype=np.float32)
    masked = np.zeros(m, dtype=np.float32)
    per_chunk = max(1, rows // (2 * steps))  # images whose every step fills about one batch of rows
    with torch.inference_mode(), closing(prob):
        hw = tuple(int(s) for s in np.asarray(images[:1]).shape[1:3]) if m else (1, 1)
        zero = torch.zeros((1, 3, *hw), device=device)
        with autocast(precision, device):
            base_logits = logits_of(model(zero.contiguous(memory_format=torch.channels_last)))
        baseline_p = torch.softmax(torch.nan_to_num(base_logits.float(), nan=0.0, posinf=0.0, neginf=0.0), 1)[0]
        for start in range(0, m, per_chunk):
            sl = slice(start, min(m, start + per_chunk))
            x = to_model_input(rows_of(images, index[sl]), mean_t, std_t, device)
            d, i, k = measure_batch(prob, x, torch.from_numpy(np.ascontiguousarray(maps[sl], dtype=np.float32)).to(device),
                                    torch.from_numpy(np.asarray(classes[sl], dtype=np.int64)).to(device), steps,
                                    baseline_p)
            deletion[sl], insertion[sl], masked[sl] = d.cpu().numpy(), i.cpu().numpy(), k.cpu().numpy()
            if on_progress:
                on_progress(sl.stop - sl.start)
    return FaithResult(index, deletion, insertion, masked, time.perf_counter() - started)


def rows_of(images: Any, index: np.ndarray) -> np.ndarray:
    """images[index] for an array or a lazy image set (engine.sources.lazy reads one image at a time)."""
    if isinstance(images, np.ndarray):
        return np.ascontiguousarray(images[index])
    return np.stack([np.asarray(images[int(i)]) for i in index]) if len(index) else np.zeros((0, 1, 1, 3), np.uint8)
