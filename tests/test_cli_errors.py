"""Bad input to `gradcam-batch run`: one clear sentence on stderr, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.models import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("world")
    data = base / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    np.save(data / "test_images.npy", rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8))
    np.save(data / "test_fine_labels.npy", np.arange(20) % 10)
    (data / "meta.json").write_text(json.dumps({"fine_label_names": [f"c{i}" for i in range(10)]}))
    torch.manual_seed(0)
    torch.save(ARCHITECTURES["cifar_resnet20"][0](10).state_dict(), base / "r20.pth")
    torch.save(ARCHITECTURES["cifar_resnet20"][0](100).state_dict(), base / "r20_100.pth")
    return base


def batch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


CASES = {
    "missing data": (["--data", "{base}/nope", "--arch", "cifar_resnet20", "--checkpoint", "{base}/r20.pth"], "No data at"),
    "missing checkpoint": (["--data", "{base}/data", "--arch", "cifar_resnet20", "--checkpoint", "{base}/none.pth"], "does not exist"),
    "wrong architecture": (["--data", "{base}/data", "--arch", "resnet18", "--checkpoint", "{base}/r20.pth"], "missing keys"),
    "class count": (["--data", "{base}/data", "--arch", "cifar_resnet20", "--checkpoint", "{base}/r20_100.pth"], "has 100 classes but the data has 10"),
    "unknown layer": (["--data", "{base}/data", "--arch", "cifar_resnet20", "--checkpoint", "{base}/r20.pth", "--target-layer", "layer9"], "no layer 'layer9'"),
    "unknown arch": (["--data", "{base}/data", "--arch", "vgg", "--checkpoint", "{base}/r20.pth"], "Unknown --arch"),
    "cuda absent": (["--data", "{base}/data", "--arch", "cifar_resnet20", "--checkpoint", "{base}/r20.pth", "--device", "cuda"], "no CUDA GPU"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_sentence_and_exit_2(world, tmp_path, case):
    args, expected = CASES[case]
    if case == "cuda absent" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = batch("run", *[a.format(base=world) for a in args], "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and proc.stderr.strip().endswith(error_lines[0]), proc.stderr


def test_small_run_succeeds_with_limit(world, tmp_path):
    proc = batch("run", "--data", f"{world}/data", "--arch", "cifar_resnet20", "--checkpoint", f"{world}/r20.pth",
                 "--out", str(tmp_path), "--limit", "7", "--no-reports")
    assert proc.returncode == 0, proc.stderr
    assert "Predictions collected for 7 images" in proc.stdout
    assert (tmp_path / "cache.npz").exists()
