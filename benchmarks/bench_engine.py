"""Engine speed, measured side by side in one run (run by hand; not part of the test suite).

1. Grad-CAM for the true and the predicted class of 512 real CIFAR-100 test images (ResNet-56, layer3):
   the engine (one pass, linear-head Grad-CAM, maps upsampled and normalised like the reference's output)
   in fp32 and in --precision (its check against fp32 included, as `run` does it) vs pytorch-grad-cam
   used as its README shows (GradCAM(...)(input_tensor, targets)).
2. Images per second: the engine's pass vs a bare torch forward loop at the same batch size.
3. Wall time and peak RSS of `gradcam-batch run` on all 10,000 images, up to the written cache.
4. `gradcam-batch run --limit 2000` (reports included), whole process, vs the same job with pytorch-grad-cam
   as a whole process (its README's usage: predictions from cam.outputs, the true- and the predicted-class
   maps, saved): median of --repeats, the two alternated.
5. `gradcam-batch run` on all 10,000 images with every report, whole process, in fp32 and in --precision,
   vs a bare fp32 forward loop over the same images in this process (the model as built, channels_last,
   batch 256, inference_mode); top-1 and the run's measured agreement with fp32.

Start-up (each command's imports) is benchmarks/bench_imports.py. Times are medians of --repeats: the
machine these ran on is shared, so a single run says little.

Usage: python benchmarks/bench_engine.py [--shared ../shared] [--batch-size 256] [--sections 1,2,3,4,5]
                                         [--repeats 3] [--precision bf16]
"""

from __future__ import annotations

import argparse
import os
import statistics
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

# the pytorch-grad-cam job of section 4 as its own process: argv = shared folder, N, batch size, output file
REFERENCE_JOB = r"""
import sys
import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from engine.models.cifar_resnet import cifar_resnet  # the user's model code: plain torch
shared, n, bs, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
images = np.load(f"{shared}/cifar100/test_images.npy", mmap_mode="r")[:n]
labels = np.load(f"{shared}/cifar100/test_fine_labels.npy")[:n]
model = cifar_resnet(56).eval()
model.load_state_dict(torch.load(f"{shared}/models/chenyaofo_cifar100_resnet56.pth", weights_only=True))
mean, std = torch.tensor(%r).view(1, 3, 1, 1), torch.tensor(%r).view(1, 3, 1, 1)
probs, cam_true, cam_pred = [], [], []
with GradCAM(model=model, target_layers=[model.layer3]) as cam:
    for s in range(0, n, bs):
        x = (torch.from_numpy(np.array(images[s:s + bs])).permute(0, 3, 1, 2).float() / 255 - mean) / std
        cam_true.append(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in labels[s:s + bs]]))
        cam_pred.append(cam(input_tensor=x, targets=None))  # None: the predicted class
        probs.append(cam.outputs.softmax(1).detach().numpy())
np.savez(out, probs=np.concatenate(probs), cam_true=np.concatenate(cam_true), cam_pred=np.concatenate(cam_pred))
print(f"top-1 {(np.concatenate(probs).argmax(1) == labels).mean() * 100:.2f}%%")
""" % (MEAN, STD)


def normalised(images: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 255
    return ((x - torch.tensor(MEAN, device=device).view(1, 3, 1, 1)) / torch.tensor(STD, device=device).view(1, 3, 1, 1)).contiguous()


def one_pass(model, images: np.ndarray, labels: np.ndarray, device: torch.device, batch_size: int,
             precision: str = "fp32"):
    """The engine's pass as `run` drives it (probe, stream, assemble), kept in memory: the RunCache."""
    data = ImageSet(images, labels.astype(np.int64), [str(c) for c in range(100)], "benchmark")
    config = RunConfig(out=None, reports=False, batch_size=batch_size, device=str(device), precision=precision)
    return analyse(Subject(data, model, {}, MEAN, STD, "layer3"), config, console=Console(quiet=True)).cache


def median_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed_process(cmd: list[str], tree: Path = ROOT) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of a whole process run with `tree` first on the import path (its engine, not the installed one)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env)
    return time.perf_counter() - t, proc


def run_command(args, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "engine", "run", "--data", str(args.shared / "cifar100"), "--arch", "cifar_resnet56",
            "--checkpoint", str(args.shared / "models" / "chenyaofo_cifar100_resnet56.pth"), "--out", out,
            "--batch-size", str(args.batch_size), *extra]


def accuracy_line(proc: subprocess.CompletedProcess) -> str:
    return next((l for l in proc.stdout.splitlines() if "accuracy" in l.lower() or l.startswith("top-1")), proc.stderr[-300:])


def med(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} s (" + ", ".join(f"{v:.1f}" for v in values) + ")"


def whole_run_vs_reference(args) -> None:
    """Section 4: `run --limit 2000` vs the pytorch-grad-cam job, both whole processes, alternated."""
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t, proc = timed_process(run_command(args, f"{tmp}/run", "--limit", "2000"))
            assert proc.returncode == 0, proc.stderr[-2000:]
            ours.append(t)
            t, ref = timed_process([sys.executable, "-c", REFERENCE_JOB, str(args.shared), "2000", str(args.batch_size),
                                    f"{tmp}/ref.npz"])
            assert ref.returncode == 0, ref.stderr[-2000:]
            theirs.append(t)
    print(f"[4] 2,000 images, predictions + true- and predicted-class maps, whole process: gradcam-batch run (reports "
          f"included) {med(ours)}; pytorch-grad-cam {med(theirs)} ({ref.stdout.strip()}); speed-up "
          f"{statistics.median(theirs) / statistics.median(ours):.1f}x")


def full_run_vs_bare_loop(args, model, images: np.ndarray, device: torch.device) -> None:
    """Section 5: the whole 10,000-image run with every report vs a bare fp32 forward loop in this process."""
    model = model.to(memory_format=torch.channels_last)

    def bare_loop():
        with torch.inference_mode():
            for s in range(0, len(images), args.batch_size):
                x = normalised(images[s : s + args.batch_size], device).contiguous(memory_format=torch.channels_last)
                model(x).softmax(1).cpu()

    loops: list[float] = []
    runs: dict[str, list[float]] = {"fp32": [], args.precision: []}
    last: dict[str, subprocess.CompletedProcess] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # alternated
            loops.append(median_of(bare_loop, 1))
            for precision in runs:
                t, proc = timed_process(run_command(args, f"{tmp}/run", "--device", str(device), "--precision", precision))
                assert proc.returncode == 0, proc.stderr[-2000:]
                runs[precision].append(t)
                last[precision] = proc
            reports = len(list(Path(tmp, "run").glob("*.png")))
    loop = statistics.median(loops)
    print(f"[5] 10,000 images, bare fp32 forward loop (channels_last, batch {args.batch_size}, in-process) {med(loops)}")
    for precision, times in runs.items():
        check = next((l.strip() for l in last[precision].stderr.splitlines() if " vs fp32 on the first " in l), "")
        print(f"[5] gradcam-batch run --precision {precision} with every report ({reports} PNGs), whole process, "
              f"{med(times)}; ratio (run / loop) {statistics.median(times) / loop:.2f}; {accuracy_line(last[precision])}"
              + (f"; {check}" if check else ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sections", default="1,2,3,4,5")
    ap.add_argument("--skip-run", action="store_true", help="leave out sections 3 and 5 (the 10,000-image runs)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="bf16", help="the reduced precision set beside fp32 (sections 1 and 5)")
    args = ap.parse_args()
    args.shared = args.shared.resolve()
    sections = {int(s) for s in args.sections.split(",")} - ({3, 5} if args.skip_run else set())
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    ckpt = args.shared / "models" / "chenyaofo_cifar100_resnet56.pth"
    images_all = np.load(args.shared / "cifar100" / "test_images.npy")
    labels_all = np.load(args.shared / "cifar100" / "test_fine_labels.npy")
    # the engine loads the model its own way (BatchNorm folded into the convolutions)
    model = load_model(ckpt, 100, arch="cifar_resnet56").model.to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); torch {torch.__version__}; batch size {args.batch_size}")
    ref_model = cifar_resnet(56).eval()  # the user's model as they built it
    ref_model.load_state_dict(torch.load(ckpt, weights_only=True))
    ref_model.to(device)

    if 1 in sections:  # Grad-CAM, true + predicted class, 512 images
        imgs, labels = images_all[:512], labels_all[:512]

        def engine_cams(precision: str = "fp32"):
            r = one_pass(model, imgs, labels, device, args.batch_size, precision)
            return display_cam(r.cam_true, (32, 32)), display_cam(r.cam_topk[:, 0], (32, 32))

        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        def reference_cams():
            outs_t, outs_p = [], []
            with GradCAM(model=ref_model, target_layers=[ref_model.layer3]) as cam:
                for s in range(0, len(imgs), args.batch_size):
                    x = normalised(imgs[s : s + args.batch_size], device)
                    outs_t.append(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in labels[s : s + args.batch_size]]))
                    outs_p.append(cam(input_tensor=x, targets=None))  # None = the predicted class
            return np.concatenate(outs_t), np.concatenate(outs_p)

        ours, ref = engine_cams(), reference_cams()
        diff = max(np.abs(ours[0] - ref[0]).max(), np.abs(ours[1] - ref[1]).max())
        low = engine_cams(args.precision)
        low_diff = max(np.abs(low[0] - ref[0]).max(), np.abs(low[1] - ref[1]).max())
        t_fp32, t_low, t_ref = [], [], []
        for _ in range(args.repeats):  # alternated, so that the machine's load falls on all three alike
            t_fp32.append(median_of(engine_cams, 1))
            t_low.append(median_of(lambda: engine_cams(args.precision), 1))
            t_ref.append(median_of(reference_cams, 1))
        t_fp32, t_low, t_ref = (statistics.median(v) for v in (t_fp32, t_low, t_ref))
        print(f"[1] Grad-CAM true+pred, 512 images: pytorch-grad-cam {t_ref:.3f} s; engine fp32 {t_fp32:.3f} s, "
              f"speed-up {t_ref / t_fp32:.1f}x (max |difference| {diff:.1e}); engine {args.precision} {t_low:.3f} s, "
              f"speed-up {t_ref / t_low:.1f}x (max |difference| of the normalised maps {low_diff:.2f})")

    if 2 in sections:  # pass throughput vs bare forward loop, 2,048 images
        n = 2048
        imgs2, labels2 = images_all[:n], labels_all[:n]

        def bare_loop():
            with torch.inference_mode():
                for s in range(0, n, args.batch_size):
                    ref_model(normalised(imgs2[s : s + args.batch_size], device)).softmax(1).cpu()

        def engine_pass():
            one_pass(model, imgs2, labels2, device, args.batch_size)

        bare_loop()
        t_bare = median_of(bare_loop, args.repeats)
        engine_pass()
        t_pass = median_of(engine_pass, args.repeats)
        print(f"[2] {n} images: engine pass {n / t_pass:,.0f} img/s, bare forward loop (the model as built, inference_mode) {n / t_bare:,.0f} img/s, "
              f"ratio (engine time / bare time) {t_pass / t_bare:.2f}")

    if 3 in sections:  # the real command, all 10,000 images, to the written cache
        with tempfile.TemporaryDirectory() as out:
            cmd = run_command(args, out, "--no-reports", "--device", str(device))
            # /usr/bin/time reports the command's own peak RSS (getrusage of a child forked from this
            # big process would count pages inherited before exec)
            timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
            wall, proc = timed_process(timer + cmd)
            rss_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024 if timer else float("nan")
            size = os.path.getsize(Path(out) / "cache.npz") / 1e6 if proc.returncode == 0 else float("nan")
        print(f"[3] gradcam-batch run, ResNet-56, 10,000 images, to the cache: {wall:.1f} s wall, peak RSS {rss_mb:,.0f} MB, "
              f"cache {size:.0f} MB; {accuracy_line(proc)}")

    if 4 in sections:
        whole_run_vs_reference(args)
    if 5 in sections:
        full_run_vs_bare_loop(args, ref_model, images_all, device)


if __name__ == "__main__":
    main()
