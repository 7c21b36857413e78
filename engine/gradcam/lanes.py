"""Side-by-side CPU lanes: split each batch across model replicas, one thread each.

A ResNet on 32x32 images is made of small convolutions, which PyTorch's intra-op threads split poorly: the
threads meet at a barrier after every operator, and on a shared machine one late thread stalls the others.
Giving each thread its own half of the batch and its own copy of the model (independent streams of work,
the GIL released inside every operator) was 10-40% faster on a quiet 2-core CPU and about twice as fast
on a busy one, with identical results (`benchmarks/bench_engine.py`). On CUDA there is one lane.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import torch
from torch import nn

MIN_ROWS_PER_LANE = 8  # below this a split costs more than it saves
MAX_LANES = 2

T = TypeVar("T")


@dataclass
class Lane:
    """One model replica with the activations its hook captured."""

    model: nn.Module
    layer: nn.Module
    captured: dict[str, torch.Tensor] = field(default_factory=dict)
    hook: Any = None


def lane_count(device: torch.device) -> int:
    """How many lanes suit this device: one per PyTorch thread, at most MAX_LANES; one on accelerators."""
    if device.type != "cpu":
        return 1
    return max(1, min(MAX_LANES, torch.get_num_threads()))


def make_lanes(model: nn.Module, layer_name: str, count: int) -> list[Lane]:
    """The model itself, plus count-1 deep copies (a model that cannot be copied runs in one lane)."""
    models = [model]
    for _ in range(count - 1):
        try:
            models.append(copy.deepcopy(model))
        except Exception:  # noqa: BLE001 - exotic user modules: fall back to one lane, never fail the run
            break
    return [Lane(m, dict(m.named_modules())[layer_name]) for m in models]


def _capture(captured: dict, graph_from_here: bool, copy: bool) -> Callable:
    """A forward hook keeping the layer's output. With graph_from_here, the pass runs without autograd up
    to the layer and records the graph from it on: the output becomes a leaf that requires grad (a copy of
    one when the model changes it in place, which a leaf does not allow) and grad mode is switched on for
    the rest of this thread's forward pass (the caller's no_grad block restores it)."""

    def hook(module: nn.Module, inputs: Any, output: Any) -> Any:
        if graph_from_here and torch.is_tensor(output):
            torch.set_grad_enabled(True)
            output = output.detach().requires_grad_(True)
            if copy:
                output = output.clone()
            captured["act"] = output
            return output
        captured["act"] = output
        return None

    return hook


@contextmanager
def hooked(lanes: list[Lane], graph_from_here: bool = False, copy: bool = False) -> Iterator[None]:
    """Capture the layer's output of each lane's forward pass into that lane's own dict (see _capture)."""
    for lane in lanes:
        lane.hook = lane.layer.register_forward_hook(_capture(lane.captured, graph_from_here, copy))
    try:
        yield
    finally:
        for lane in lanes:
            if lane.hook is not None:
                lane.hook.remove()
                lane.hook = None


def split_rows(n: int, lanes: int) -> list[slice]:
    """Contiguous, nearly equal row ranges covering 0..n once; fewer lanes when the batch is small."""
    lanes = max(1, min(lanes, n // MIN_ROWS_PER_LANE))
    bounds = [round(k * n / lanes) for k in range(lanes + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def lane_pool(lanes: list[Lane]) -> ThreadPoolExecutor | None:
    """The threads the lanes run on, kept for a whole pass (fresh threads per batch would each set up
    their own allocator arenas); None for one lane."""
    return ThreadPoolExecutor(len(lanes), thread_name_prefix="cpu-lane") if len(lanes) > 1 else None


def run_on_lanes(lanes: list[Lane], n: int, work: Callable[[Lane, slice], T],
                 pool: ThreadPoolExecutor | None) -> list[T]:
    """work(lane, rows) for each lane's share of n rows, side by side on `pool`; results in row order.
    A lane thread takes PyTorch's thread count when it first runs an operator: one share of the threads."""
    parts = split_rows(n, len(lanes))
    if len(parts) == 1 or pool is None:
        return [work(lanes[0], slice(0, n))]
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // len(lanes)))
    try:
        return list(pool.map(work, lanes[: len(parts)], parts))
    finally:
        torch.set_num_threads(threads)
