"""Several processes, one cache: the pass split over the ranks torchrun starts, gathered on rank 0.

    torchrun --nproc-per-node N -m engine run --data ... [flags of run]

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; several
machines join through torchrun's own rendezvous flags (--nnodes, --node-rank, --master-addr/--master-port
or --rdzv-backend c10d --rdzv-endpoint). Backend: NCCL on CUDA (each process on cuda:LOCAL_RANK), gloo on
the CPU.

Every rank loads the data and the model and checks them before the process group starts, so bad input
fails on every rank alike without anyone waiting. The pass then runs in lockstep: at each step every rank
processes its next batch (engine.gradcam.shards) and reports ok or its error to all (a tiny all_gather), then rank 0
gathers the batch results (gather_object; a rank whose shard is done sends nothing) and writes them at their
image offsets. So rank 0 holds at most one batch per rank, an error on any rank stops every rank at the
next step, and a rank that dies outright is caught by torchrun, which stops the others; the process-group
timeout (TIMEOUT) is the last resort. The same variables set without torchrun (a stale shell, a hand-made
launch) join through engine.gradcam.rendezvous, which gives up in seconds and stays interruptible.
torch.distributed's process-group machinery is imported only by a run that starts a group (several
processes), not by a one-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from rich.console import Console

from engine.console import say
from engine.errors import PeerFailed, UserError
from engine.gradcam.device import resolve_device
from engine.gradcam.rendezvous import join, launched_by_torchrun

TIMEOUT = timedelta(minutes=30)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"The environment variable {name}={raw!r} is not a number; start the run with torchrun.") from None


@dataclass
class Ranks:
    """Where this process stands in the run; WORLD_SIZE unset or 1 means a plain one-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    started: bool = False
    backend: str | None = None  # "nccl" or "gloo" once started
    _store: Any = None  # the rendezvous store of a launch that is not torchrun's, kept while the group lives

    @classmethod
    def from_env(cls) -> "Ranks":
        world = _env_int("WORLD_SIZE", 1)
        ranks = cls(_env_int("RANK", 0), world, _env_int("LOCAL_RANK", 0), _env_int("LOCAL_WORLD_SIZE", 1))
        if world < 1 or not 0 <= ranks.rank < world or not 0 <= ranks.local_rank < max(1, ranks.local_world_size):
            raise UserError(f"RANK={ranks.rank}, LOCAL_RANK={ranks.local_rank}, WORLD_SIZE={world} do not fit together; start the run with torchrun.")
        if world > 1 and not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
            raise UserError("WORLD_SIZE > 1 but MASTER_ADDR/MASTER_PORT are not set; start the run with torchrun.")
        return ranks

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def device(self, requested: str | None) -> torch.device:
        """This rank's device: under torchrun `auto`/`cuda` mean cuda:LOCAL_RANK."""
        dev = resolve_device(requested)
        if not self.is_distributed or dev.type != "cuda":
            return dev
        if dev.index is not None and requested not in (None, "auto"):
            raise UserError(f"--device {requested}: under torchrun each process uses cuda:LOCAL_RANK; pass --device cuda or auto.")
        if self.local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {self.local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                            "start at most that many processes per node.")
        return torch.device("cuda", self.local_rank)

    def start(self, device: torch.device) -> None:
        """Join the process group (no-op for one process)."""
        if not self.is_distributed or self.started:
            return
        if device.type == "cuda":
            torch.cuda.set_device(device)
            backend = "nccl"
        else:
            backend = "gloo"
        import torch.distributed as dist

        device_id = device if device.type == "cuda" else None
        if launched_by_torchrun():
            dist.init_process_group(backend=backend, timeout=TIMEOUT, device_id=device_id)
        else:  # the variables without torchrun: a rendezvous that times out in seconds and hears signals
            self._store = join(self.rank, self.world_size, lambda text: say(Console(stderr=True, soft_wrap=True), text))
            dist.init_process_group(backend=backend, store=self._store, rank=self.rank, world_size=self.world_size,
                                    timeout=TIMEOUT, device_id=device_id)
        self.started, self.backend = True, backend

    def step(self, item: Any, error: str | None = None) -> list[Any]:
        """One lockstep exchange: everyone learns whether anyone failed (raises PeerFailed, or UserError
        with its own message on the failing rank), then rank 0 receives every rank's item in rank order
        (None items left out); other ranks get []."""
        if not self.is_distributed:
            if error:
                raise UserError(error)
            return [] if item is None else [item]
        import torch.distributed as dist

        statuses: list[Any] = [None] * self.world_size
        dist.all_gather_object(statuses, error)
        failed = [(r, s) for r, s in enumerate(statuses) if s]
        if failed:
            r, message = failed[0]
            if r == self.rank:
                raise UserError(message)
            raise PeerFailed(f"rank {r} failed: {message}")
        gathered: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(item, gathered, dst=0)
        return [g for g in gathered if g is not None] if gathered is not None else []

    def close(self) -> None:
        if not self.started:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
        self.started, self._store = False, None
