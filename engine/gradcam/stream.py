"""The pass over a whole data set as its batches stream in: the one pass driver.

This process reads its shard (engine.gradcam.shards) through the DataLoader (engine.sources.loader) and
runs OnePass on each batch; every rank's results reach rank 0 through engine.gradcam.distributed and are
written at their image offsets into a sink: arrays in memory (runs that end as cache.npz) or the cache
folder's .npy files (large runs, engine.store.folder). One process is the special case of one rank.
"""

from __future__ import annotations

import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from engine.errors import UserError, brief
from engine.gradcam.distributed import Ranks
from engine.gradcam.one_pass import OnePass
from engine.gradcam.shards import shard_batches
from engine.sources.imageset import ImageSet
from engine.sources.loader import iterate_batches, killed_by_interrupt
from engine.sources.preprocess import display_shape


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

    def rows_written(self) -> dict[str, np.ndarray]:
        return self.arrays


@dataclass
class StreamStats:
    cam_path: str
    batch_size: int
    nonfinite_images: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    precision_check: dict[str, Any] | None = None  # a reduced precision against fp32 (engine.gradcam.precision)


def stream_pass(
    data: ImageSet,
    one: OnePass,
    ranks: Ranks,
    sink: Sink | None,
    *,
    display_size: int = 128,
    workers: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> StreamStats:
    """Run this rank's shard through `one` (entered); on rank 0 write every rank's rows into `sink` (labels
    and masks included)."""
    started = time.perf_counter()
    shards = shard_batches(len(data), one.batch_size, ranks.world_size)
    mine, steps = shards[ranks.rank], max(len(s) for s in shards)
    nonfinite, notes, measured = 0, [], None
    batches = iterate_batches(data.images, data.labels, mine, display_size=display_size, workers=workers,
                              pin_memory=one.device.type == "cuda")
    with _worker_deaths(), closing(batches):
        for step in range(steps):
            item, error = None, None
            if step < len(mine):
                try:
                    start, x, display, labels = next(batches)
                    out = one(x, labels)
                    if step == 0 and ranks.is_main:  # a reduced precision against fp32, on this first batch
                        measured = one.agreement(x, labels, out, len(data))
                    out.images = display
                    item = (start, out, list(one.notes))
                except Exception as exc:  # noqa: BLE001 - under torchrun every rank must hear of it
                    if not ranks.is_distributed:
                        raise
                    error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {brief(exc)}"
            for start, out, rank_notes in ranks.step(item, error):
                nonfinite += int((~out.finite).sum())
                notes += [note for note in rank_notes if note not in notes]
                if sink is not None:
                    for name, value in out.members().items():
                        sink.write_rows(name, start, value)
                if on_progress:
                    on_progress(len(out))
    if sink is not None and ranks.is_main:
        sink.write_rows("labels", 0, np.asarray(data.labels, dtype=np.int64))
        shown = display_shape(int(data.images.shape[1]), int(data.images.shape[2]), display_size)
        if data.masks is not None and tuple(data.masks.shape[1:3]) == shown:
            sink.write_rows("masks", 0, np.asarray(data.masks, dtype=bool))
    return StreamStats(one.cam_path, one.batch_size, nonfinite, time.perf_counter() - started, notes, measured)


@contextmanager
def _worker_deaths() -> Iterator[None]:
    """torch reports a DataLoader worker's death from a SIGCHLD handler, so it can surface anywhere in the
    pass (inside the model's forward too): one killed by SIGINT, SIGTERM or SIGHUP is the interrupt it was
    part of (engine.sources.loader), one killed otherwise (the out-of-memory killer's SIGKILL) one sentence."""
    try:
        yield
    except RuntimeError as exc:
        if killed_by_interrupt(exc):
            raise KeyboardInterrupt from None
        if "DataLoader worker" in str(exc):
            raise UserError(f"A data-loading worker died ({brief(exc)}); if the machine ran out of memory, run "
                            "again with fewer --workers or a smaller --batch-size.") from None
        raise


def gathered_members(sink: Any) -> dict[str, np.ndarray]:
    """The per-image arrays a sink holds (ArraySink) or has written (cache folder writer, memory-mapped)."""
    return sink.rows_written()
