"""Batches for the pass, read through a torch DataLoader: one item per batch of consecutive images.

A worker reads (and decodes, resizes, crops) a whole batch, so `images[start:stop]` of a lazy image set is
one contiguous read, and makes the smaller display copy the cache stores. At most workers x 2 batches are
in flight, so memory does not grow with the number of images. A read error travels back as a message (not
as an exception wrapped in a worker traceback) and becomes one clear sentence.

Interrupts are the main process's to handle. SIGINT from a terminal, and SIGTERM or SIGHUP sent to the
whole process group (`timeout`, `kill -- -PGID`, systemd, Slurm's `scancel`, a dropped SSH session), reach
the workers too; they ignore them, and the main process unwinds, stops its workers and removes its
temporary files. A worker killed by one of those signals all the same (one that arrived before it could
ignore it) is the interrupt it was part of, not a data error.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from engine.errors import UserError, brief
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
        except UserError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - in a worker, anything else would come back as a traceback
            return {"error": f"Images {start}..{stop - 1} could not be read: {type(exc).__name__}: {brief(exc)}."}
        display = to_display(x, self.display_size)
        return {
            "images": torch.from_numpy(x),
            "display": None if display is None else torch.from_numpy(display),
            "labels": torch.from_numpy(np.asarray(self.labels[start:stop], dtype=np.int64)),
            "start": start,
        }


INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_KILLED = re.compile(r"DataLoader worker \(pid[^)]*\) is killed by signal: (?P<name>.+?)\.?\s*$")


def ignore_interrupts(worker_id: int = 0) -> None:
    """A worker's first act (DataLoader's worker_init_fn): leave SIGINT, SIGTERM and SIGHUP to the main process."""
    for sig in INTERRUPTS:
        signal.signal(sig, signal.SIG_IGN)


def killed_by_interrupt(exc: BaseException) -> bool:
    """`exc` is torch's report of a worker killed by SIGINT, SIGTERM or SIGHUP."""
    match = _KILLED.search(str(exc)) if isinstance(exc, RuntimeError) else None
    return bool(match) and match.group("name") in {signal.strsignal(s) for s in INTERRUPTS}


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
        worker_init_fn=ignore_interrupts if workers else None,
    )
    batches = iter(loader)
    try:
        for item in batches:
            if "error" in item:
                raise UserError(item["error"])
            x = item["images"]
            display = x.numpy() if item["display"] is None else item["display"].numpy()
            yield int(item["start"]), x, display, item["labels"].numpy()
    except RuntimeError as exc:
        if killed_by_interrupt(exc):
            raise KeyboardInterrupt from None
        raise
    finally:
        _stop_workers(batches)


def _stop_workers(batches: Any) -> None:
    """Stop the workers now, while this generator still handles what that raises: left to the iterator's
    __del__, a worker that died with the interrupt is reported there, as an "Exception ignored" traceback."""
    stop = getattr(batches, "_shutdown_workers", None)
    if stop is not None:
        try:
            stop()
        except RuntimeError as exc:
            if not killed_by_interrupt(exc):
                raise
