"""`gradcam-batch run` end to end on the real CIFAR-100 test split and the shared checkpoints."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cache import load_cache
from tests.conftest import need_shared
from tests.synthetic import temporaries

BATCH = [sys.executable, "-m", "engine"]
ROOT = Path(__file__).resolve().parents[1]


def run_batch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*BATCH, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def full_run(tmp_path_factory, depth: int) -> tuple[subprocess.CompletedProcess, Path]:
    """`gradcam-batch run` with reports on all 10,000 CIFAR-100 test images and a shared checkpoint."""
    shared = need_shared()
    out = tmp_path_factory.mktemp(f"r{depth}")
    proc = run_batch(
        "run", "--data", str(shared / "cifar100"), "--arch", f"cifar_resnet{depth}",
        "--checkpoint", str(shared / "models" / f"chenyaofo_cifar100_resnet{depth}.pth"), "--out", str(out),
    )
    return proc, out


@pytest.fixture(scope="module")
def resnet56_run(tmp_path_factory):
    return full_run(tmp_path_factory, 56)


def test_resnet56_reproduces_published_accuracy(resnet56_run):
    proc, out = resnet56_run
    assert proc.returncode == 0, proc.stderr
    assert "Predictions collected for 10000 images" in proc.stdout
    assert "Overall accuracy: 72.63%" in proc.stdout
    assert "Correct: 7263/10000" in proc.stdout
    assert f"Cache written to {out / 'cache.npz'}" in proc.stdout


def test_resnet56_cache_is_complete_and_self_consistent(resnet56_run):
    _, out = resnet56_run
    cache = load_cache(out / "cache.npz")
    assert cache.num_images == 10000 and cache.num_classes == 100
    assert cache.superclass_names is not None and len(cache.superclass_names) == 20
    assert cache.cam_true.shape == (10000, 8, 8) and cache.cam_topk.shape == (10000, 5, 8, 8)
    assert cache.meta["target_layer"] == "layer3" and cache.meta["cam_path"] == "linear-head"
    assert cache.meta["model"]["checkpoint_sha256"].startswith("f7e590a0")
    assert cache.meta["normalisation"]["std"] == [0.2673, 0.2564, 0.2761]
    assert abs(cache.analysis.top1 - 0.7263) < 1e-9
    # worst-5 per class follow the definition: misclassified first, by descending wrong confidence
    a = cache.analysis
    for c in range(100):
        picks = a.worst_of(c)
        assert len(picks) == 5
        conf = [float(cache.confidence[i]) for i, _ in picks]
        kinds = [k for _, k in picks]
        n_wrong = kinds.count(0)
        assert conf[:n_wrong] == sorted(conf[:n_wrong], reverse=True)
        assert all(cache.labels[i] == c for i, _ in picks)


def test_resnet56_reports_are_complete_and_agree_with_the_cache(resnet56_run):
    from tests.report_checks import check_report_folder

    _, out = resnet56_run
    check_report_folder(out, load_cache(out / "cache.npz"))


@pytest.fixture(scope="module")
def resnet20_run(tmp_path_factory):
    return full_run(tmp_path_factory, 20)


def test_resnet20_reproduces_published_accuracy(resnet20_run):
    proc, _ = resnet20_run
    assert proc.returncode == 0, proc.stderr
    assert "Overall accuracy: 68.83%" in proc.stdout
    assert "Correct: 6883/10000" in proc.stdout


def test_resnet56_calibration_before_and_after_temperature(resnet56_run):
    _, out = resnet56_run
    cal = load_cache(out / "cache.npz").diagnostics.calibration
    assert abs(cal.ece - 0.1418) < 0.002  # an over-confident model, as published ResNets on CIFAR-100 are
    assert 1.5 < cal.temperature < 2.0 and all(1.5 < t < 2.0 for t in cal.temperature_folds)
    assert cal.ece_after < 0.05 and cal.nll_after < cal.nll


def test_compare_resnet20_to_resnet56_matches_their_per_class_csvs(resnet20_run, resnet56_run, tmp_path):
    import pandas as pd

    (_, old), (_, new) = resnet20_run, resnet56_run
    proc = run_batch("compare", str(old / "cache.npz"), str(new / "cache.npz"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Top-1 accuracy: 68.83% -> 72.63% (+3.80 points)" in proc.stdout
    deltas = pd.read_csv(tmp_path / "compare_per_class.csv")
    before = pd.read_csv(old / "per_class_accuracy.csv")
    after = pd.read_csv(new / "per_class_accuracy.csv")
    np.testing.assert_allclose(deltas["delta"], after["accuracy"] - before["accuracy"], atol=1e-6)
    assert (deltas["fixed"] - deltas["broken"]).sum() == 7263 - 6883


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_previous_cache_untouched(tmp_path, sig):
    shared = need_shared()
    old = tmp_path / "cache.npz"
    old.write_bytes(b"previous cache bytes")
    proc = subprocess.Popen(
        [*BATCH, "run", "--data", str(shared / "cifar100"), "--arch", "cifar_resnet56", "--batch-size", "64",
         "--checkpoint", str(shared / "models" / "chenyaofo_cifar100_resnet56.pth"), "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    while not proc.stderr.readline().startswith("Data:"):  # printed just before the pass starts
        assert proc.poll() is None, "the run ended before its pass"
    time.sleep(2)  # inside the forward pass (it takes about 25 s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Interrupted" in err
    assert old.read_bytes() == b"previous cache bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]


def test_second_run_replaces_cache_atomically(tmp_path):
    shared = need_shared()
    args = ["run", "--data", str(shared / "cifar100"), "--arch", "cifar_resnet20", "--limit", "300",
            "--checkpoint", str(shared / "models" / "chenyaofo_cifar100_resnet20.pth"), "--out", str(tmp_path), "--no-reports"]
    assert run_batch(*args).returncode == 0
    first = load_cache(tmp_path / "cache.npz")
    assert first.num_images == 300
    args[args.index("300")] = "200"
    assert run_batch(*args).returncode == 0
    second = load_cache(tmp_path / "cache.npz")
    assert second.num_images == 200
    np.testing.assert_array_equal(second.probs, first.probs[:200])
    assert temporaries(tmp_path) == []
