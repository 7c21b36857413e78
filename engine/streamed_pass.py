"""The pass over a whole data set as its batches stream in.

This process reads its shard (engine.shards) through the DataLoader (engine.loader) and runs the engine's
OnePass on each batch; every rank's results reach rank 0 through engine.distributed and are written at
their image offsets into a sink: arrays in memory (runs that end as cache.npz) or the cache folder's
.npy files (large runs, engine.cache_folder). One process is the special case of one rank.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import nn

from engine.distributed import Ranks
from engine.errors import UserError
from engine.imageset import ImageSet
from engine.inference import OnePass
from engine.loader import iterate_batches
from engine.shards import shard_batches

# OnePass output -> cache member
MEMBERS = {"probs": "probs", "logits": "logits", "topk": "topk_classes", "cam_true": "cam_true",
           "cam_topk": "cam_topk", "images": "images"}


class Sink(Protocol):
    def write_rows(self, name: str, start: int, values: np.ndarray) -> None: ...


class ArraySink:
    """Per-image members as arrays in memory, allocated on their first rows."""

    def __init__(self, num_images: int) -> None:
        self.num_images = num_images
        self.arrays: dict[str, np.ndarray] = {}

    def write_rows(self, name: str, start: int, values: np.ndarray) -> None:
        values = np.asarray(values)
        if name not in self.arrays:
            self.arrays[name] = np.empty((self.num_images, *values.shape[1:]), dtype=values.dtype)
        self.arrays[name][start : start + len(values)] = values


@dataclass
class StreamStats:
    cam_path: str
    batch_size: int
    nonfinite_images: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def stream_pass(
    data: ImageSet,
    model: nn.Module,
    *,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    layer: str,
    device: torch.device,
    ranks: Ranks,
    sink: Sink | None,
    batch_size: int = 256,
    display_size: int = 128,
    workers: int = 0,
    force_autograd: bool = False,
    method: str = "gradcam",
    on_progress: Callable[[int], None] | None = None,
) -> StreamStats:
    """Run this rank's shard; on rank 0 write every rank's rows into `sink` (labels and masks included)."""
    started = time.perf_counter()
    n = len(data)
    shards = shard_batches(n, batch_size, ranks.world_size)
    mine, steps = shards[ranks.rank], max(len(s) for s in shards)
    nonfinite, notes = 0, []
    batches = iterate_batches(data.images, data.labels, mine, display_size=display_size, workers=workers,
                              pin_memory=device.type == "cuda")
    with closing(batches), OnePass(model, data.images, mean, std, layer, device, batch_size,
                                   force_autograd=force_autograd, method=method) as one:
        for step in range(steps):
            item, error = None, None
            if step < len(mine):
                try:
                    start, x, display, labels = next(batches)
                    out = one(x, labels)
                    out["images"] = display
                    item = (start, out, list(one.notes))
                except Exception as exc:  # noqa: BLE001 - under torchrun every rank must hear of it
                    if not ranks.is_distributed:
                        raise
                    error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            for start, out, rank_notes in ranks.step(item, error):
                nonfinite += int((~out.pop("finite")).sum())
                notes += [note for note in rank_notes if note not in notes]
                if sink is not None:
                    for key, value in out.items():
                        sink.write_rows(MEMBERS[key], start, value)
                if on_progress:
                    on_progress(len(out["probs"]))
    if sink is not None and ranks.is_main:
        sink.write_rows("labels", 0, np.asarray(data.labels, dtype=np.int64))
        if data.masks is not None and tuple(data.masks.shape[1:3]) == _display_hw(data, display_size):
            sink.write_rows("masks", 0, np.asarray(data.masks, dtype=bool))
    return StreamStats(one.cam_path, one.batch_size, nonfinite, time.perf_counter() - started, notes)


def _display_hw(data: ImageSet, display_size: int) -> tuple[int, int]:
    from engine.preprocess import display_shape

    return display_shape(int(data.images.shape[1]), int(data.images.shape[2]), display_size)


def gathered_members(sink: Any) -> dict[str, np.ndarray]:
    """The per-image arrays a sink holds (ArraySink) or has written (cache folder writer, memory-mapped)."""
    return sink.arrays if isinstance(sink, ArraySink) else sink.rows_written()
