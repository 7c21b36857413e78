"""Resources under `gradcam-batch run`: CUDA out of memory backs the batch size off, and peak memory stays
flat as the data set grows (the streaming loader into a cache folder)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import torch

from engine.store import load_cache
from tests.conftest import ROOT

OOM_NET = textwrap.dedent("""
    import torch
    from engine.models.cifar_resnet import cifar_resnet

    def build(num_classes):
        net = cifar_resnet(20, num_classes)
        inner = net.forward
        def forward(x):
            if x.shape[0] > 4:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
            return inner(x)
        net.forward = forward
        return net
""")
PLAIN_NET = textwrap.dedent("""
    from engine.models.cifar_resnet import cifar_resnet

    def build(num_classes):
        return cifar_resnet(20, num_classes)
""")


def test_cuda_out_of_memory_backs_off_the_batch_size_and_says_so(small_world, cli, tmp_path):
    """A model that runs out of (simulated) CUDA memory above 4 images per batch: the run halves the batch
    until it fits, says so, and its predictions equal an unconstrained run's."""
    (tmp_path / "oom_net.py").write_text(OOM_NET)
    (tmp_path / "plain_net.py").write_text(PLAIN_NET)

    def run(net: str, out: str, *extra: str):
        return cli("run", "--data", small_world.data, "--model", f"{tmp_path / net}:build", "--checkpoint",
                   small_world.checkpoint, "--out", tmp_path / out, "--no-reports", *extra).completed()

    outcome = run("oom_net.py", "oom", "--batch-size", "16")
    assert "CUDA out of memory: batch size lowered to 8" in outcome.err
    assert "CUDA out of memory: batch size lowered to 4" in outcome.err
    oom = load_cache(tmp_path / "oom" / "cache.npz")
    assert oom.meta["batch_size"] == 4
    run("plain_net.py", "plain")
    plain = load_cache(tmp_path / "plain" / "cache.npz")
    np.testing.assert_array_equal(oom.topk_classes, plain.topk_classes)
    np.testing.assert_allclose(oom.probs, plain.probs, atol=1e-5)


TINY_MODEL = '''
from torch import nn

def build(num_classes=10):
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))
'''
MEASURE = '''
import atexit, sys
def peak_kb():  # VmHWM: this process's own peak (ru_maxrss would carry over the parent's across fork + exec)
    return next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
atexit.register(lambda: print(f"MAXRSS_KB {peak_kb()}", file=sys.stderr))
from engine.cli import main
sys.argv = ["gradcam-batch", *sys.argv[1:]]
main()
'''


def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path, arrays_folder):
    """1,000 vs 10,000 images through the streaming loader into a cache folder: the per-image results
    (~5 KB an image here, 45 MB more for the larger run if they were held in memory) never pile up."""
    (tmp_path / "tiny.py").write_text(TINY_MODEL)
    (tmp_path / "measure.py").write_text(MEASURE)
    sys.path.insert(0, str(tmp_path))
    try:
        import tiny  # type: ignore[import-not-found]

        torch.manual_seed(0)
        torch.save(tiny.build().state_dict(), tmp_path / "tiny.pth")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tiny", None)
    rng = np.random.default_rng(0)
    peaks = {}
    for n in (1000, 10000):
        data = arrays_folder(tmp_path / f"a{n}", images=rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8))
        proc = subprocess.run(
            [sys.executable, str(tmp_path / "measure.py"), "run", "--data", str(data), "--model",
             f"{tmp_path / 'tiny.py'}:build", "--checkpoint", str(tmp_path / "tiny.pth"), "--target-layer", "1",
             "--cache-format", "folder", "--no-reports", "--device", "cpu", "--out", str(tmp_path / f"out{n}")],
            capture_output=True, text=True, cwd=ROOT, timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        peaks[n] = int(proc.stderr.split("MAXRSS_KB")[-1].split()[0]) / 1024
        assert load_cache(tmp_path / f"out{n}" / "cache").num_images == n
    assert peaks[10000] - peaks[1000] < 15, peaks  # MB
