"""Bad input to `gradcam-batch run` (paths, checkpoints, layers, devices, flags): one clear sentence on
stderr, exit code 2, no traceback, from a real process and from the command line in this process."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import Outcome

DATA = ["--data", "{base}/data"]
R20 = ["--arch", "cifar_resnet20", "--checkpoint", "{base}/r20.pth"]
CASES = {
    "missing data": (["--data", "{base}/nope", *R20], "No data at"),
    "missing checkpoint": ([*DATA, "--arch", "cifar_resnet20", "--checkpoint", "{base}/none.pth"], "does not exist"),
    "wrong architecture": ([*DATA, "--arch", "resnet18", "--checkpoint", "{base}/r20.pth"], "missing keys"),
    "class count": ([*DATA, "--arch", "cifar_resnet20", "--checkpoint", "{base}/r20_100.pth"],
                    "has 100 classes but the data has 10"),
    "unknown layer": ([*DATA, *R20, "--target-layer", "layer9"], "no layer 'layer9'"),
    "unknown arch": ([*DATA, "--arch", "vgg", "--checkpoint", "{base}/r20.pth"], "Unknown --arch"),
    "no checkpoint": ([*DATA, "--arch", "cifar_resnet20"], "--checkpoint is required"),
    "arch and model": ([*DATA, *R20, "--model", "m.py:build"], "Give either --arch or --model, not both."),
    "device name": ([*DATA, *R20, "--device", "gpu0"], "--device 'gpu0' is not a device name"),
    "cuda absent": ([*DATA, *R20, "--device", "cuda"], "no CUDA GPU"),
}


@pytest.fixture(scope="module")
def world(small_world, resnet20_checkpoint):
    resnet20_checkpoint(small_world.base / "r20_100.pth", num_classes=100)
    return small_world.base


@pytest.mark.parametrize("case", list(CASES), ids=[c.replace(" ", "-") for c in CASES])
def test_bad_input_is_one_sentence_and_exit_2(world, tmp_path, batch, case):
    args, expected = CASES[case]
    if case == "cuda absent" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = batch("run", *[a.format(base=world) for a in args], "--out", tmp_path / "out", timeout=120)
    Outcome.of(proc).refused(expected)


BAD_FLAGS = {
    "image size 0": (["--image-size", "0"], "--image-size 0 is not a size in pixels"),
    "unknown weights": (["--weights", "ResNet50_Weights.NOPE"], "is not a torchvision weights name"),
    "weights and mean": (["--weights", "ResNet50_Weights.IMAGENET1K_V1", "--mean", "0.5", "0.5", "0.5"],
                         "drop --image-size/--mean/--std"),
    "weights and size": (["--weights", "ResNet50_Weights.IMAGENET1K_V1", "--image-size", "224"],
                         "drop --image-size/--mean/--std"),
    "cache format": (["--cache-format", "zip"], "--cache-format 'zip' is not one of auto, npz, folder"),
    "workers": (["--workers", "-1"], "--workers -1"),
    "display size": (["--display-size", "0"], "--display-size 0 is not a size in pixels"),
    "cam method": (["--cam", "scorecam"], "Unknown CAM method 'scorecam'"),
    "std zero": (["--std", "0.5", "0", "0.5"], "every value must be above 0"),
}


@pytest.mark.parametrize("case", list(BAD_FLAGS), ids=[c.replace(" ", "-") for c in BAD_FLAGS])
def test_bad_scale_flags_are_one_sentence_and_exit_2(tmp_path, cli, case):
    flags, expected = BAD_FLAGS[case]
    outcome = cli("run", "--data", "demo", *flags, "--out", tmp_path / "out")
    outcome.refused(expected)
    assert outcome.out == "" and outcome.err.strip() == outcome.error_line  # checked before the data is read
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_bad_flag_from_the_command_line_has_no_traceback(tmp_path, batch):
    proc = batch("run", "--data", "demo", "--weights", "nope", "--out", tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("Error: --weights 'nope' is not a torchvision weights name")
