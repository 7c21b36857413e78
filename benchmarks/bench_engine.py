"""Engine speed, measured side by side in one run (run by hand; not part of the test suite).

1. Grad-CAM for the true and the predicted class of 512 real CIFAR-100 test images (ResNet-56, layer3):
   the engine (one pass, linear-head Grad-CAM, maps upsampled and normalised like the reference's output)
   vs pytorch-grad-cam used as its README shows (GradCAM(...)(input_tensor, targets)).
2. Images per second: the engine's pass vs a bare torch forward loop at the same batch size.
3. Wall time and peak RSS of `gradcam-batch run` on all 10,000 images, up to the written cache.

Usage: python benchmarks/bench_engine.py [--shared ../shared] [--batch-size 256] [--skip-run]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from engine.analysis.cam_maps import display_cam  # noqa: E402
from engine.config import RunConfig  # noqa: E402
from engine.models import load_model  # noqa: E402
from engine.models.cifar_resnet import cifar_resnet  # noqa: E402
from engine.run import Subject, analyse  # noqa: E402
from engine.sources.imageset import ImageSet  # noqa: E402

MEAN = (0.5070, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2761)


def normalised(images: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 255
    return ((x - torch.tensor(MEAN, device=device).view(1, 3, 1, 1)) / torch.tensor(STD, device=device).view(1, 3, 1, 1)).contiguous()


def one_pass(model, images: np.ndarray, labels: np.ndarray, device: torch.device, batch_size: int):
    """The engine's pass as `run` drives it (probe, stream, assemble), kept in memory: the RunCache."""
    data = ImageSet(images, labels.astype(np.int64), [str(c) for c in range(100)], "benchmark")
    config = RunConfig(out=None, reports=False, batch_size=batch_size, device=str(device))
    return analyse(Subject(data, model, {}, MEAN, STD, "layer3"), config, console=Console(quiet=True)).cache


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    ckpt = args.shared / "models" / "chenyaofo_cifar100_resnet56.pth"
    images_all = np.load(args.shared / "cifar100" / "test_images.npy")
    labels_all = np.load(args.shared / "cifar100" / "test_fine_labels.npy")
    # the engine loads the model its own way (BatchNorm folded into the convolutions)
    model = load_model(ckpt, 100, arch="cifar_resnet56").model.to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); torch {torch.__version__}; batch size {args.batch_size}")

    # 1. Grad-CAM, true + predicted class, 512 images
    imgs, labels = images_all[:512], labels_all[:512]

    def engine_cams():
        r = one_pass(model, imgs, labels, device, args.batch_size)
        return display_cam(r.cam_true, (32, 32)), display_cam(r.cam_topk[:, 0], (32, 32))

    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    ref_model = cifar_resnet(56).eval()  # the user's model as they built it
    ref_model.load_state_dict(torch.load(ckpt, weights_only=True))
    ref_model.to(device)

    def reference_cams():
        outs_t, outs_p = [], []
        with GradCAM(model=ref_model, target_layers=[ref_model.layer3]) as cam:
            for s in range(0, len(imgs), args.batch_size):
                x = normalised(imgs[s : s + args.batch_size], device)
                outs_t.append(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in labels[s : s + args.batch_size]]))
                outs_p.append(cam(input_tensor=x, targets=None))  # None = the predicted class
        return np.concatenate(outs_t), np.concatenate(outs_p)

    ours = engine_cams()
    ref = reference_cams()
    diff = max(np.abs(ours[0] - ref[0]).max(), np.abs(ours[1] - ref[1]).max())
    t_engine = best_of(engine_cams, args.repeats)
    t_ref = best_of(reference_cams, args.repeats)
    print(f"[1] Grad-CAM true+pred, 512 images: engine {t_engine:.3f} s, pytorch-grad-cam {t_ref:.3f} s, "
          f"speed-up {t_ref / t_engine:.1f}x (max |difference| {diff:.1e})")

    # 2. pass throughput vs bare forward loop, 2,048 images
    n = 2048
    imgs2, labels2 = images_all[:n], labels_all[:n]

    def bare_loop():
        with torch.inference_mode():
            for s in range(0, n, args.batch_size):
                ref_model(normalised(imgs2[s : s + args.batch_size], device)).softmax(1).cpu()

    def engine_pass():
        one_pass(model, imgs2, labels2, device, args.batch_size)

    bare_loop()
    t_bare = best_of(bare_loop, args.repeats)
    engine_pass()
    t_pass = best_of(engine_pass, args.repeats)
    print(f"[2] {n} images: engine pass {n / t_pass:,.0f} img/s, bare forward loop (the model as built, inference_mode) {n / t_bare:,.0f} img/s, "
          f"ratio (engine time / bare time) {t_pass / t_bare:.2f}")

    # 3. the real command, all 10,000 images, to the written cache
    if not args.skip_run:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "engine", "run", "--data", str(args.shared / "cifar100"), "--arch", "cifar_resnet56",
                   "--checkpoint", str(ckpt), "--out", out, "--no-reports", "--batch-size", str(args.batch_size), "--device", str(device)]
            # /usr/bin/time reports the command's own peak RSS (getrusage of a child forked from this
            # big process would count pages inherited before exec)
            timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
            t = time.perf_counter()
            proc = subprocess.run(timer + cmd, capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - t
            rss_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024 if timer else float("nan")
            acc = next((l for l in proc.stdout.splitlines() if l.startswith("Overall accuracy")), proc.stderr[-300:])
            size = os.path.getsize(Path(out) / "cache.npz") / 1e6 if proc.returncode == 0 else float("nan")
        print(f"[3] gradcam-batch run, ResNet-56, 10,000 images, to the cache: {wall:.1f} s wall, peak RSS {rss_mb:,.0f} MB, "
              f"cache {size:.0f} MB; {acc}")


if __name__ == "__main__":
    main()
