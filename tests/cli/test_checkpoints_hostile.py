"""Checkpoints from strangers given to `gradcam-batch run`: nothing in one runs (a pickle's code, a
TorchScript file's code), an unreadable or mismatched one is one sentence and exit 2, NaN weights a warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from torch import nn

from engine.models.cifar_resnet import cifar_resnet
from engine.store import load_cache
from tests.cli.terminal import assert_terminal_safe
from tests.conftest import need_shared


@pytest.fixture(scope="module")
def checkpoints(small_world, code_running_pickle):
    """Damaged and hostile checkpoints beside the small world's good one."""
    base = small_world.base / "checkpoints"
    base.mkdir()
    good = small_world.checkpoint.read_bytes()
    (base / "truncated.pth").write_bytes(good[: len(good) // 2])
    (base / "empty.pth").write_bytes(b"")
    (base / "not_a_checkpoint.pth").write_text("hello, I am a text file\n")
    nan = torch.load(small_world.checkpoint, weights_only=True)
    nan["fc.weight"][3, 5] = float("nan")
    torch.save(nan, base / "r20_nan.pth")
    torch.save({"state_dict": code_running_pickle(base / "PWNED")}, base / "evil.pth")
    return base


def test_code_running_pickle_is_refused_and_its_code_never_runs(small_world, checkpoints, cli, tmp_path):
    evil = checkpoints / "evil.pth"
    line = cli(*small_world.run_args(tmp_path / "out", ckpt=evil)).refused("could run code", "--trust-checkpoint")
    assert "evil.pth" in line
    assert not (checkpoints / "PWNED").exists()
    # the payload is live: the user's explicit trust is what runs it (so the assertion above can fail)
    cli(*small_world.run_args(tmp_path / "out", "--trust-checkpoint", ckpt=evil)).refused("holds no state_dict")
    assert (checkpoints / "PWNED").exists()
    (checkpoints / "PWNED").unlink()


@pytest.mark.parametrize(
    "ckpt, expected",
    [("empty.pth", "is empty, not a PyTorch file"),
     ("truncated.pth", "truncated or not a PyTorch file"),
     ("not_a_checkpoint.pth", "could not be read"),
     ("absent.pth", "does not exist")],
    ids=["empty", "truncated", "not-a-checkpoint", "absent"],
)
def test_unreadable_checkpoints(small_world, checkpoints, cli, tmp_path, ckpt, expected):
    cli(*small_world.run_args(tmp_path / "out", ckpt=checkpoints / ckpt)).refused(
        f"Checkpoint {checkpoints / ckpt}", expected)


def test_a_state_dict_for_another_architecture_names_the_keys(small_world, cli, tmp_path):
    line = cli(*small_world.run_args(tmp_path / "out", arch="resnet18")).refused(
        "does not fit --arch resnet18", "missing keys", "unexpected keys")
    assert "layer4" in line and "layer1.2" in line  # the keys themselves are named


def test_a_10_class_head_on_100_class_data(small_world, arrays_folder, cli, tmp_path):
    data = arrays_folder(tmp_path / "data100", n=100, classes=[f"k{i}" for i in range(100)])
    cli(*small_world.run_args(tmp_path / "out", data=data)).refused(
        "The checkpoint's classifier has 10 classes but the data has 100.")


def test_nan_weights_warn_with_the_number_of_images_affected(small_world, checkpoints, cli, tmp_path):
    outcome = cli(*small_world.run_args(tmp_path, "--no-reports", ckpt=checkpoints / "r20_nan.pth")).completed()
    assert "non-finite logits (NaN/inf) for 20 of 20 images" in outcome.err
    cache = load_cache(tmp_path / "cache.npz")
    assert cache.meta["nonfinite_images"] == 20 and np.isfinite(cache.probs).all()
    # a healthy checkpoint gives no such warning (the warning is about the weights, not always printed)
    assert "non-finite" not in cli(*small_world.run_args(tmp_path / "ok", "--no-reports")).completed().err


# --- TorchScript is code: it is never run ------------------------------------------------------------------


class Payload(nn.Module):
    """A ReLU whose TorchScript __setstate__ creates one file and overwrites the first bytes of another, as a
    hostile archive's would (TorchScript runs __setstate__ while loading)."""

    def __init__(self, created: str, overwritten: str) -> None:
        super().__init__()
        self.created, self.overwritten = created, overwritten
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, str, bool]:
        return (self.created, self.overwritten, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, str, bool]) -> None:
        self.created, self.overwritten, self.training = state[0], state[1], state[2]
        made = torch.from_file(state[0], shared=True, size=8, dtype=torch.uint8)
        made[0] = 80
        hit = torch.from_file(state[1], shared=True, size=4, dtype=torch.uint8)
        hit[0] = 80
        self.seen = int(made[0]) + int(hit[0])  # used, so TorchScript keeps the writes


class Spinner(nn.Module):
    """A ReLU whose __setstate__ never returns."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @torch.jit.export
    def __getstate__(self) -> Tuple[bool]:
        return (self.training,)

    @torch.jit.export
    def __setstate__(self, state: Tuple[bool]) -> None:
        self.training = state[0]
        n = 0
        while n >= 0:
            n = n + 1 - 1


def scripted_resnet20(path: Path, relu: nn.Module) -> Path:
    """The shared ResNet-20, faithfully, as TorchScript with `relu` in place of its stem ReLU (no weights)."""
    shared = need_shared()
    model = cifar_resnet(20, 100)
    model.load_state_dict(torch.load(shared / "models" / "chenyaofo_cifar100_resnet20.pth", weights_only=True))
    model.relu = relu
    torch.jit.save(torch.jit.script(model.eval()), path)
    return path


def test_a_torchscript_payload_never_runs_and_its_weights_still_load(tmp_path, batch):
    shared = need_shared()
    created, overwritten = tmp_path / "created-by-payload", tmp_path / "victim.txt"
    evil = scripted_resnet20(tmp_path / "resnet20.pth", Payload(str(created), str(overwritten)))
    # the payload is live: torch.jit.load runs it
    overwritten.write_bytes(b"ORIGINAL")
    control = subprocess.run([sys.executable, "-c", f"import torch; torch.jit.load({str(evil)!r})"],
                             capture_output=True, timeout=120)
    assert control.returncode == 0, control.stderr
    assert created.exists() and overwritten.read_bytes() == b"PRIGINAL"
    created.unlink()
    overwritten.write_bytes(b"ORIGINAL")
    # the README's own command, with and without --arch: the weights load, the code never runs
    for arch in (["--arch", "cifar_resnet20"], []):
        out = tmp_path / f"out{len(arch)}"
        proc = batch("run", "--data", shared / "cifar100", *arch, "--checkpoint", evil, "--out", out, "--no-reports",
                     text=False)
        text = assert_terminal_safe(proc)
        assert proc.returncode == 0, text
        assert "Overall accuracy: 68.83%" in text
        assert not created.exists() and overwritten.read_bytes() == b"ORIGINAL"
        assert "none of its code was run" in load_cache(out / "cache.npz").meta["model"]["loaded_as"]


def test_a_torchscript_setstate_that_never_returns_is_never_entered(tmp_path, batch):
    shared = need_shared()
    evil = scripted_resnet20(tmp_path / "resnet20.pth", Spinner())
    proc = batch("run", "--data", shared / "cifar100", "--checkpoint", evil, "--out", tmp_path / "o",
                 "--no-reports", "--limit", "256", timeout=300)
    assert proc.returncode == 0, proc.stderr
