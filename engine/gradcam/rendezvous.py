"""How the processes of a run that torchrun did not start find each other, in seconds and interruptibly.

torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT for the processes it starts, hosts their
rendezvous and watches them (its processes carry TORCHELASTIC_RUN_ID); those join the usual way. The same
variables left in a shell (one opened inside a torchrun job or a Slurm allocation, an earlier `export`)
make a plain `gradcam-batch run` one rank of a group whose other ranks never come. torch's own rendezvous
would wait for them for its full timeout inside C++, where neither Ctrl-C nor SIGTERM reaches Python, and an
unresolvable MASTER_ADDR floods stderr with socket warnings. So a launch that is not torchrun's joins here:

- MASTER_ADDR is resolved in Python, and rank 0 checks that it is an address of this machine and that
  MASTER_PORT is free (each a sentence, no C++ socket warnings);
- the other ranks are awaited in short Python steps, so a signal stops the wait at once;
- after RENDEZVOUS_SECONDS (GRADCAM_RENDEZVOUS_SECONDS changes it) the run stops with one sentence that
  names the variables to unset for a one-process run.

The store it returns is handed to torch.distributed.init_process_group, which then finds every rank there.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from datetime import timedelta
from typing import Any, Callable

from engine.errors import UserError

RENDEZVOUS_SECONDS = 30.0
JOINED = "gradcam/joined"
STEP_SECONDS = 0.1


def launched_by_torchrun() -> bool:
    return bool(os.environ.get("TORCHELASTIC_RUN_ID"))


def rendezvous_seconds() -> float:
    raw = os.environ.get("GRADCAM_RENDEZVOUS_SECONDS", "")
    if not raw:
        return RENDEZVOUS_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise UserError(f"GRADCAM_RENDEZVOUS_SECONDS={raw!r} is not a number of seconds above 0.")
    return value


def not_torchrun(world: int, rank: int) -> str:
    return (f"WORLD_SIZE={world} and RANK={rank} are set in the environment, but this process was not started by "
            "torchrun; for a one-process run unset WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, or "
            "start the run with torchrun")


def _address(world: int, rank: int) -> tuple[str, int, list[Any]]:
    addr, raw_port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    try:
        port = int(raw_port)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise UserError(f"MASTER_PORT={raw_port!r} is not a port number; {not_torchrun(world, rank)}.") from None
    try:
        infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"MASTER_ADDR={addr!r} cannot be resolved ({exc}); {not_torchrun(world, rank)}.") from None
    return addr, port, infos


def _check_serves_here(addr: str, port: int, infos: list[Any], world: int, rank: int) -> None:
    """Rank 0 hosts the rendezvous: MASTER_ADDR must be this machine's and MASTER_PORT free on it."""
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((sockaddr[0], port))
        except OSError as exc:
            what = (f"MASTER_PORT {port} is in use on this machine" if exc.errno == errno.EADDRINUSE else
                    f"RANK={rank} hosts the rendezvous, but MASTER_ADDR={addr!r} is not an address of this "
                    f"machine ({exc.strerror})")
            raise UserError(f"{what}; {not_torchrun(world, rank)}.") from None


def _reachable(addr: str, port: int, deadline: float) -> bool:
    """Wait, in short interruptible steps, until something listens at addr:port (rank 0's store)."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=min(1.0, max(0.05, deadline - time.monotonic()))):
                return True
        except OSError:
            time.sleep(STEP_SECONDS)
    return False


def join(rank: int, world: int, announce: Callable[[str], None]) -> Any:
    """Meet the other ranks at MASTER_ADDR:MASTER_PORT (rank 0 hosts the store); the torch TCPStore they share."""
    import torch.distributed as dist

    addr, port, infos = _address(world, rank)
    seconds = rendezvous_seconds()
    deadline = time.monotonic() + seconds
    if rank == 0:
        _check_serves_here(addr, port, infos, world, rank)
    others = world - 1
    announce(f"WORLD_SIZE={world} and RANK={rank} come from the environment, not from torchrun: waiting up to "
             f"{seconds:g} s for {others} more process{'es' if others > 1 else ''} at {addr}:{port}.")
    timeout = timedelta(seconds=seconds)
    if rank != 0 and not _reachable(addr, port, deadline):
        raise UserError(f"Nothing answered at MASTER_ADDR:MASTER_PORT {addr}:{port} within {seconds:g} s; "
                        f"{not_torchrun(world, rank)}.")
    try:
        store = dist.TCPStore(addr, port, world, rank == 0, timeout=timeout, wait_for_workers=False)
        joined = store.add(JOINED, 1)
        while joined < world:
            if time.monotonic() > deadline:
                raise UserError(f"Only {joined} of the {world} processes joined at {addr}:{port} within "
                                f"{seconds:g} s; {not_torchrun(world, rank)}.")
            time.sleep(STEP_SECONDS)
            joined = store.add(JOINED, 0)
    except RuntimeError as exc:  # torch's DistNetworkError / DistStoreError
        raise UserError(f"The rendezvous at {addr}:{port} failed ({str(exc).strip().splitlines()[0][:160]}); "
                        f"{not_torchrun(world, rank)}.") from None
    return store
