"""Training the demo model, and getting it: the shipped checkpoint, or one trained here and cached.

The demo ships a tiny checkpoint (engine/demo/weights/demo_net.pt, float16 weights) produced by

    python -m engine.demo.train --out engine/demo/weights/demo_net.pt

which trains DemoNet on the demo world's training split from a fixed seed (torch.manual_seed, deterministic
algorithms, one fixed shuffling generator). The recipe is the one that makes real classifiers over-confident
(Guo et al. 2017): a small training set (TRAIN_IMAGES_PER_CLASS = 100 per class, 2,000 images) trained for
many epochs to a near-zero training loss, plain cross-entropy (no label smoothing, no mixup) and no weight
decay. The model memorises even the look-alike images whose distinguishing marks are washed out, so on the
test split it is over-confident: temperature scaling (T > 1) lowers its held-out ECE, and some of its errors
come at >= 90% confidence. Re-running the script with the same torch version and thread count gives the
same file. The checkpoint records a fingerprint of the world it was trained on; if
world.py changes, load_demo_model() refuses the stale file and trains a fresh model (a few minutes on two
CPU cores), caching it under ~/.cache/gradcam-tui/.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.demo.net import DEMO_ARCH, DEMO_MEAN, DEMO_STD, WIDTHS, DemoNet
from engine.demo.world import CLASS_NAMES, make_world
from engine.models.checkpoints import file_sha256

WEIGHTS = Path(__file__).resolve().parent / "weights" / "demo_net.pt"
CHECKPOINT_FORMAT = 1
SEED = 0
# a small training set seen many times, without weight decay: the model fits its training images (even the
# indistinguishable look-alikes) to near-zero loss and ends up over-confident, as real networks do. Same
# compute as the earlier recipe (200 images per class for 30 epochs, weight decay 5e-4, which came out calibrated).
TRAIN_IMAGES_PER_CLASS = 100
EPOCHS = 60
BATCH_SIZE = 128
MAX_LR = 0.05
WEIGHT_DECAY = 0.0

Progress = Callable[[str, int, int], None]  # (what, done, total)


def world_fingerprint(seed: int = 0) -> str:
    """sha256 over a small sample of both splits: changes whenever world.py draws different images."""
    h = hashlib.sha256()
    for split in ("train", "test"):
        w = make_world(split, n_per_class=2, seed=seed)
        for a in (w.images, w.labels, w.masks):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update("|".join(w.class_names).encode())
    return h.hexdigest()


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) normalised with DEMO_MEAN / DEMO_STD."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(DEMO_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(DEMO_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def train_demo_net(
    n_per_class: int = TRAIN_IMAGES_PER_CLASS,
    epochs: int = EPOCHS,
    seed: int = SEED,
    progress: Progress | None = None,
) -> DemoNet:
    """DemoNet trained on make_world("train", n_per_class, seed) with SGD + one-cycle, plain cross-entropy,
    no weight decay."""
    world = make_world("train", n_per_class=n_per_class, seed=seed)
    x, y = to_input(world.images), torch.from_numpy(world.labels)
    with _deterministic():
        torch.manual_seed(seed)
        model = DemoNet(len(CLASS_NAMES))
        order = torch.Generator().manual_seed(seed)
        opt = torch.optim.SGD(model.parameters(), lr=MAX_LR, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY)
        steps_per_epoch = (len(x) + BATCH_SIZE - 1) // BATCH_SIZE
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=MAX_LR, total_steps=epochs * steps_per_epoch, pct_start=0.25
        )
        model.train()
        for epoch in range(epochs):
            perm = torch.randperm(len(x), generator=order)
            for step, start in enumerate(range(0, len(x), BATCH_SIZE)):
                idx = perm[start : start + BATCH_SIZE]
                loss = F.cross_entropy(model(x[idx]), y[idx])  # no label smoothing, on purpose
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if progress is not None:
                    progress(f"training demo model (epoch {epoch + 1}/{epochs})", epoch * steps_per_epoch + step + 1,
                             epochs * steps_per_epoch)
    return model.eval()


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **info: object) -> Path:
    """The state_dict in float16 (integer buffers as they are) plus what it was trained on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": DEMO_ARCH,
        "widths": list(WIDTHS),
        "num_classes": len(CLASS_NAMES),
        "class_names": list(CLASS_NAMES),
        "world_fingerprint": world_fingerprint(),
        "torch_version": str(torch.__version__),
        "info": {k: v for k, v in info.items()},
        "state_dict": state,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


class StaleCheckpoint(Exception):
    """The checkpoint was trained on another version of the demo world (or is not a demo checkpoint)."""


def load_checkpoint(path: str | os.PathLike, fingerprint: str | None = None) -> DemoNet:
    """A DemoNet in eval mode from a checkpoint written by save_checkpoint (weights_only load)."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or payload.get("arch") != DEMO_ARCH:
        raise StaleCheckpoint(f"{path} is not a demo checkpoint of format {CHECKPOINT_FORMAT}")
    if payload.get("class_names") != list(CLASS_NAMES) or list(payload.get("widths", [])) != list(WIDTHS):
        raise StaleCheckpoint(f"{path} was trained for other classes or another DemoNet")
    if payload.get("world_fingerprint") != (fingerprint or world_fingerprint()):
        raise StaleCheckpoint(f"{path} was trained on another version of the demo world")
    model = DemoNet(len(CLASS_NAMES))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    return model.eval()


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gradcam-tui"


def demo_checkpoint_path() -> Path:
    """Where load_demo_model() finds its weights: the shipped file, else the user-cache copy it trains."""
    if WEIGHTS.exists():
        return WEIGHTS
    return user_cache_dir() / f"demo_net-{world_fingerprint()[:12]}.pt"


def load_demo_model(progress: Progress | None = None, log: Callable[[str], None] | None = None) -> DemoNet:
    """The trained demo model in eval mode: the shipped checkpoint when it matches the world, otherwise a
    model trained here (same script, same seed) and cached in the user cache folder for next time."""
    fingerprint = world_fingerprint()
    cached = user_cache_dir() / f"demo_net-{fingerprint[:12]}.pt"
    for path in (WEIGHTS, cached):
        if path.exists():
            try:
                return load_checkpoint(path, fingerprint)
            except StaleCheckpoint as exc:
                if log is not None:
                    log(f"{exc}; ignoring it")
    if log is not None:
        log(f"no demo checkpoint for this world; training one (a few minutes), then caching it at {cached}")
    model = train_demo_net(progress=progress)
    try:
        save_checkpoint(model, cached, seed=SEED, epochs=EPOCHS, n_per_class=TRAIN_IMAGES_PER_CLASS)
    except OSError as exc:  # a read-only home is no reason to fail the demo
        if log is not None:
            log(f"could not cache the demo model ({exc})")
    return load_checkpoint(cached, fingerprint) if cached.exists() else model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the demo model and write its checkpoint.")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help=f"checkpoint to write (default {WEIGHTS})")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--n-per-class", type=int, default=TRAIN_IMAGES_PER_CLASS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    last = [-1]

    def report(what: str, done: int, total: int) -> None:
        pct = 100 * done // total
        if pct != last[0] and pct % 5 == 0:
            last[0] = pct
            print(f"{what}: {pct:3d}%  ({time.perf_counter() - t0:.0f} s)", flush=True)

    model = train_demo_net(n_per_class=args.n_per_class, epochs=args.epochs, seed=args.seed, progress=report)
    path = save_checkpoint(model, args.out, seed=args.seed, epochs=args.epochs, n_per_class=args.n_per_class)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, sha256 {file_sha256(path)[:16]}) "
          f"in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
