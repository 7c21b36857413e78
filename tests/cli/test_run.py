"""`gradcam-batch run` end to end: the real CIFAR-100 test split with the shared checkpoints reproduces the
published accuracies, its cache and reports agree; a small run, a rerun, a torchvision ResNet with its
weights' transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.analysis.analysed_run import AnalysedRun, open_run
from engine.analysis.selections import MISCLASSIFIED
from engine.store import load_cache
from tests.conftest import need_shared
from tests.report_checks import check_report_folder
from tests.synthetic import temporaries


@pytest.fixture(scope="module")
def resnet56_run(cifar_run):
    return cifar_run(56)


def test_resnet56_reproduces_published_accuracy(resnet56_run):
    proc, out = resnet56_run
    assert proc.returncode == 0, proc.stderr
    assert "Predictions collected for 10000 images" in proc.stdout
    assert "Overall accuracy: 72.63%" in proc.stdout
    assert "Correct: 7263/10000" in proc.stdout
    assert f"Cache written to {out / 'cache.npz'}" in proc.stdout


def test_resnet56_cache_is_complete_and_self_consistent(resnet56_run):
    _, out = resnet56_run
    run = open_run(out / "cache.npz")
    cache = run.cache
    assert cache.num_images == 10000 and cache.num_classes == 100
    assert cache.superclass_names is not None and len(cache.superclass_names) == 20
    assert cache.cam_true.shape == (10000, 8, 8) and cache.cam_topk.shape == (10000, 5, 8, 8)
    assert cache.meta["target_layer"] == "layer3" and cache.meta["cam_path"] == "linear-head"
    assert cache.meta["model"]["checkpoint_sha256"].startswith("f7e590a0")
    assert cache.meta["normalisation"]["std"] == [0.2673, 0.2564, 0.2761]
    assert cache.meta["metrics"]["top1"] == run.metrics.top1
    assert abs(run.metrics.top1 - 0.7263) < 1e-9
    # any class's map from the layer's activations (smaller than 100 maps), and the pooled features
    assert cache.meta["any_class_maps"]["stored"] == "activations" and cache.cam_all is None
    assert cache.cam_activations.shape == (10000, 64, 8, 8) and cache.head_weights.shape == (100, 64)
    assert cache.features.shape == (10000, 64)
    dup = run.near_duplicates  # the test set's two exact copies, labelled differently, come first
    assert {(int(a), int(b)) for a, b in zip(dup.a[:2], dup.b[:2])} == {(897, 9569), (1332, 5795)}
    assert (cache.images[897] == cache.images[9569]).all() and cache.labels[897] != cache.labels[9569]
    # worst-5 per class follow the definition: misclassified first, by descending wrong confidence
    for c in range(100):
        picks = run.selections.worst_of(c)
        assert len(picks) == 5
        conf = [float(cache.confidence[i]) for i, _ in picks]
        kinds = [k for _, k in picks]
        n_wrong = kinds.count(MISCLASSIFIED)
        assert kinds[:n_wrong] == [MISCLASSIFIED] * n_wrong
        assert conf[:n_wrong] == sorted(conf[:n_wrong], reverse=True)
        assert all(cache.labels[i] == c for i, _ in picks)


def test_resnet56_reports_are_complete_and_agree_with_the_cache(resnet56_run):
    _, out = resnet56_run
    check_report_folder(out, AnalysedRun(load_cache(out / "cache.npz")))


def test_resnet56_calibration_before_and_after_temperature(resnet56_run):
    _, out = resnet56_run
    cal = open_run(out).calibration
    assert abs(cal.ece - 0.1418) < 0.002  # an over-confident model, as published ResNets on CIFAR-100 are
    assert 1.5 < cal.temperature < 2.0 and all(1.5 < t < 2.0 for t in cal.temperature_folds)
    assert cal.ece_after < 0.05 and cal.nll_after < cal.nll


def test_resnet20_reproduces_published_accuracy(cifar_run):
    proc, _ = cifar_run(20)
    assert proc.returncode == 0, proc.stderr
    assert "Overall accuracy: 68.83%" in proc.stdout
    assert "Correct: 6883/10000" in proc.stdout


def test_second_run_replaces_cache_atomically(tmp_path, batch):
    shared = need_shared()
    args = ["run", "--data", str(shared / "cifar100"), "--arch", "cifar_resnet20", "--limit", "300",
            "--checkpoint", str(shared / "models" / "chenyaofo_cifar100_resnet20.pth"), "--out", str(tmp_path),
            "--no-reports"]
    assert batch(*args).returncode == 0
    first = load_cache(tmp_path / "cache.npz")
    assert first.num_images == 300
    args[args.index("300")] = "200"
    assert batch(*args).returncode == 0
    second = load_cache(tmp_path / "cache.npz")
    assert second.num_images == 200
    np.testing.assert_array_equal(second.probs, first.probs[:200])
    assert temporaries(tmp_path) == []


def test_small_run_succeeds_with_limit(small_world, batch, tmp_path):
    proc = batch(*small_world.run_args(tmp_path, "--limit", "7", "--no-reports"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Predictions collected for 7 images" in proc.stdout
    assert load_cache(tmp_path / "cache.npz").num_images == 7


def test_a_cache_folder_run_replaces_the_npz_it_wrote_before(small_world, cli, tmp_path):
    cli(*small_world.run_args(tmp_path, "--no-reports")).completed()
    outcome = cli(*small_world.run_args(tmp_path, "--no-reports", "--cache-format", "folder")).completed()
    assert f"Cache written to {tmp_path / 'cache'}" in outcome.out
    assert not (tmp_path / "cache.npz").exists()  # this tool's own earlier form goes
    assert load_cache(tmp_path / "cache").meta["cache_format"] == "folder"


def test_torchvision_resnet_with_weights_runs_end_to_end(tmp_path, image_folder, cli):
    import torchvision

    image_folder(tmp_path / "imgs", ("ant", "bee"), per_class=3, hw=(90, 120), seed=3)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), tmp_path / "r18.pth")
    cli("run", "--data", tmp_path / "imgs", "--arch", "tv_resnet18", "--checkpoint", tmp_path / "r18.pth",
        "--weights", "ResNet18_Weights.IMAGENET1K_V1", "--display-size", "64", "--no-reports", "--device", "cpu",
        "--out", tmp_path / "out").completed()
    cache = load_cache(tmp_path / "out" / "cache.npz")
    assert cache.images.shape == (6, 64, 64, 3)  # the 224x224 crop, stored at the display size
    assert cache.cam_true.shape == (6, 7, 7) and cache.meta["target_layer"] == "layer4"
    assert cache.meta["data"]["model_input_size"] == [224, 224]
    assert cache.meta["data"]["preprocess"]["resize_shorter_side"] == 256
    assert cache.meta["normalisation"]["mean"] == [0.485, 0.456, 0.406]
