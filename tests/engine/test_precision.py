"""--precision: fp32 stays exact and is the default; bf16/fp16 autocast the forward only, the Grad-CAM sums
stay fp32, the run measures and records its effect against fp32; a device without the arithmetic, or
--tf32 off CUDA, is refused in one sentence."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from rich.console import Console

import engine.gradcam.precision as precision
import engine.run
from engine.config import CIFAR100_MEAN, CIFAR100_STD, RunConfig
from engine.errors import UserError
from engine.sources.imageset import ImageSet
from tests.conftest import need_shared

N, BATCH = 256, 128
PROBE = precision.probe_size(N)  # the probe sample: the first batch's first 64 images
NATIVE_BF16 = precision.unsupported("bf16", torch.device("cpu")) is None
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")


@pytest.fixture(scope="module")
def resnet20():
    from engine.models import load_model

    shared = need_shared()
    images = np.load(shared / "cifar100" / "test_images.npy", mmap_mode="r")[:N]
    labels = np.load(shared / "cifar100" / "test_fine_labels.npy")[:N].astype(np.int64)
    model = load_model(shared / "models" / "chenyaofo_cifar100_resnet20.pth", 100, arch="cifar_resnet20").model
    return model, np.array(images), labels


def analysed(resnet20, prec: str, monkeypatch=None, autograd: bool = False):
    """The shared ResNet-20 over the first N test images in this precision, kept in memory; what it printed."""
    model, images, labels = resnet20
    if autograd:  # the autograd path, even though this head is linear
        real = engine.run.probe_model
        monkeypatch.setattr(engine.run, "probe_model", lambda *a, **k: dataclasses.replace(real(*a, **k), head=None))
    data = ImageSet(images, labels, [f"c{i}" for i in range(100)], "CIFAR-100 test")
    config = RunConfig(out=None, reports=False, device="cpu", batch_size=BATCH, workers=0, precision=prec)
    text = io.StringIO()
    subject = engine.run.Subject(data, model, {}, CIFAR100_MEAN, CIFAR100_STD, "layer3")
    run = engine.run.analyse(subject, config, console=Console(file=text, width=300))
    if autograd:
        monkeypatch.setattr(engine.run, "probe_model", real)
    return run.cache, text.getvalue()


def test_fp32_is_the_default_and_records_no_reduced_precision(resnet20):
    assert RunConfig().precision == "fp32" and RunConfig().tf32 is False
    cache, printed = analysed(resnet20, "fp32")
    assert cache.meta["precision"] == {"forward": "fp32", "tf32": False, "cam_sums": "fp32", "against_fp32": None}
    assert "vs fp32" not in printed
    assert (cache.probs.argmax(1) == resnet20[2]).mean() > 0.6  # the shared checkpoint: 68.83% on all 10,000


@needs_bf16
@pytest.mark.parametrize("path", ["linear-head", "autograd"])
def test_bf16_measures_and_records_its_agreement_with_fp32(resnet20, monkeypatch, path):
    autograd = path == "autograd"
    exact, _ = analysed(resnet20, "fp32", monkeypatch, autograd)
    reduced, printed = analysed(resnet20, "bf16", monkeypatch, autograd)
    assert reduced.meta["cam_path"] == exact.meta["cam_path"] == path
    assert reduced.cam_true.dtype == np.float32 and reduced.probs.dtype == np.float32
    # what bf16 changes, measured here independently on the whole sample
    changed = exact.topk_classes[:, 0] != reduced.topk_classes[:, 0]
    assert changed.mean() <= 0.03
    assert abs((exact.probs.argmax(1) == resnet20[2]).mean() - (reduced.probs.argmax(1) == resnet20[2]).mean()) <= 0.02
    corr = [precision.rank_correlation(a, b) for a, b in zip(exact.cam_true, reduced.cam_true)]
    assert np.nanmedian(corr) > 0.98
    # the run's own measure on its probe sample (the first batch) is the same comparison
    check = reduced.meta["precision"]["against_fp32"]
    assert reduced.meta["precision"]["forward"] == "bf16" and check["probe_images"] == PROBE == 64
    assert check["predictions_changed"] == int(changed[:PROBE].sum())
    assert check["max_probability_difference"] == pytest.approx(np.abs(exact.probs[:PROBE] - reduced.probs[:PROBE]).max(), abs=1e-5)
    assert check["map_rank_correlation_median"] == pytest.approx(np.nanmedian(corr[:PROBE]), abs=1e-3)
    assert f"bf16 vs fp32 on the first {PROBE} images: {check['predictions_changed']} of {PROBE} top-1 predictions changed" in printed


def test_the_probe_sample_is_a_small_share_of_the_run():
    assert [precision.probe_size(n) for n in (10, 512, 2000, 5000, 10_000, 1_000_000)] == [10, 64, 64, 125, 250, 256]


def test_rank_correlation_is_spearmans_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = np.maximum(rng.normal(size=(8, 8)), 0)  # ReLU'd maps: many tied zeros
        b = np.maximum(a + rng.normal(scale=0.5, size=(8, 8)), 0)
        assert precision.rank_correlation(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel()).statistic)
    assert np.isnan(precision.rank_correlation(np.zeros((8, 8)), a))


def test_a_cpu_without_native_bf16_is_refused_in_one_sentence(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f"})
    outcome = cli("run", "--data", "demo", "--device", "cpu", "--precision", "bf16", "--out", tmp_path / "out")
    outcome.refused("--precision bf16: this CPU", "has no native bf16 arithmetic (avx512_bf16 or amx_bf16)",
                    "use --precision fp32")
    assert not (tmp_path / "out" / "cache.npz").exists()


def test_tf32_off_cuda_and_unknown_precisions_are_refused(cli, tmp_path):
    cli("run", "--data", "demo", "--device", "cpu", "--tf32", "--out", tmp_path / "a").refused(
        "--tf32 is a CUDA setting", "this run is on cpu")
    cli("run", "--data", "demo", "--precision", "fp64", "--out", tmp_path / "b").refused(
        "--precision 'fp64' is not one of fp32, bf16, fp16")
    with pytest.raises(UserError, match="--tf32 applies to fp32 only"):
        precision.check("bf16", torch.device("cuda"), tf32=True)
