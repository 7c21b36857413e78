"""Batches for the pass, read through a torch DataLoader: one item per batch of consecutive images.

A worker reads (and decodes, resizes, crops) a whole batch, so `images[start:stop]` of a lazy image set is
one contiguous read, and makes the smaller display copy the cache stores. At most workers x 2 batches are
in flight, so memory does not grow with the number of images. A read error travels back as a message (not
as an exception wrapped in a worker traceback) and becomes one clear sentence.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from engine.errors import UserError
from engine.sources.lazy import read_batch
from engine.sources.preprocess import to_display

MAX_AUTO_WORKERS = 8


class BatchDataset(Dataset):
    """Item b: the images, display images (None when they are the images themselves), labels and start
    index of batch ranges[b], or {"error": message}."""

    def __init__(self, images: Any, labels: np.ndarray, ranges: list[tuple[int, int]], display_size: int) -> None:
        self.images, self.labels, self.ranges, self.display_size = images, labels, ranges, display_size

    def __len__(self) -> int:
        return len(self.ranges)

    def __getitem__(self, b: int) -> dict[str, Any]:
        start, stop = self.ranges[b]
        try:
            x = read_batch(self.images, start, stop)
        except (UserError, OSError, ValueError) as exc:
            return {"error": str(exc)}
        display = to_display(x, self.display_size)
        return {
            "images": torch.from_numpy(x),
            "display": None if display is None else torch.from_numpy(display),
            "labels": torch.from_numpy(np.asarray(self.labels[start:stop], dtype=np.int64)),
            "start": start,
        }


def auto_workers(images: Any, processes_per_machine: int = 1) -> int:
    """No workers for images in memory or plain .npy rows (reading is cheap); else the CPUs this process
    may use (a share of the machine's when several processes share it), at most MAX_AUTO_WORKERS."""
    if not getattr(images, "needs_workers", False):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_AUTO_WORKERS, cpus // max(1, processes_per_machine)))


def iterate_batches(
    images: Any,
    labels: np.ndarray,
    ranges: list[tuple[int, int]],
    *,
    display_size: int,
    workers: int,
    pin_memory: bool,
) -> Iterator[tuple[int, torch.Tensor, np.ndarray, np.ndarray]]:
    """(start, images uint8 (B,H,W,3) tensor, display uint8 array, labels) for each range, in order."""
    loader = DataLoader(
        BatchDataset(images, labels, ranges, display_size),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers else None,
    )
    for item in loader:
        if "error" in item:
            raise UserError(item["error"])
        x = item["images"]
        display = x.numpy() if item["display"] is None else item["display"].numpy()
        yield int(item["start"]), x, display, item["labels"].numpy()
