"""Which images each process reads in a multi-process run.

The images are cut into batches exactly as a single process cuts them (0..B-1, B..2B-1, ...), and each
rank takes a contiguous block of whole batches. So every image is read exactly once (no padding, unlike
DistributedSampler), every batch holds the same images as in a one-process run (same numerics), and
rank 0 can put the gathered results back in image order by their start index. Shard sizes may differ
by up to one batch plus the short last batch.
"""

from __future__ import annotations


def batch_ranges(n: int, batch_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each batch of a one-process pass over n images."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    return [(start, min(n, start + batch_size)) for start in range(0, n, batch_size)]


def shard_batches(n: int, batch_size: int, world_size: int) -> list[list[tuple[int, int]]]:
    """Per rank, its batches: rank r takes batches [r*nb//W, (r+1)*nb//W) of the nb batches."""
    if world_size < 1:
        raise ValueError("world_size must be >= 1")
    batches = batch_ranges(n, batch_size)
    nb = len(batches)
    return [batches[r * nb // world_size : (r + 1) * nb // world_size] for r in range(world_size)]
