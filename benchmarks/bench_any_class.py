"""What storing any class's maps and the pooled features costs: cache size and load time before/after, and
how long a map of a class the pass did not draw, the nearest images and the near-duplicates take.

    python benchmarks/bench_any_class.py [--shared ../shared] [--limit N] [--sections r56,folder224,pass]
                                         [--r56-cache PATH] [--repeats 5] [--pass-images 1024]

r56: `gradcam-batch run` of ResNet-56 on CIFAR-100 (all 10,000 images unless --limit; --r56-cache reuses a
cache such a run wrote). folder224: a 224-px ImageFolder of --folder-images CIFAR-100 test images upscaled
(bilinear, in /tmp), torchvision ResNet-18 with seeded random weights (no download). "Before" is the same
cache written again without the new members (features, cam_activations, head_weights, cam_all): what the
cache held until they were added, with everything else byte for byte the same. Load time: open_run(path)
in a fresh process (interpreter start excluded), then the first image's arrays touched, best and median of
--repeats. pass: the one pass itself in this process on ResNet-56, storing nothing extra, the activations or
every class's map, alternated, best of 3. The machine is shared: read wall times as upper bounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NEW = ("features", "cam_activations", "head_weights", "cam_all")

LOAD_CHILD = r"""
import sys, time
t0 = time.perf_counter()
from engine.analysis.analysed_run import open_run
t1 = time.perf_counter()
run = open_run(sys.argv[1])
c = run.cache
_ = (c.images[0].sum(), c.cam_true[0].sum(), run.metrics.top1)
t2 = time.perf_counter()
print(t2 - t1)
"""


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run_engine(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "engine", "run", *args, "--no-reports"], capture_output=True,
                          text=True, env=env(), cwd=tempfile.gettempdir())
    if proc.returncode:
        raise SystemExit(f"the run failed: {proc.stderr[-800:]}")
    return time.perf_counter() - t, proc.stdout + proc.stderr


def without_new_members(cache_path: Path, out: Path) -> Path:
    from engine.store import load_cache, save_cache

    c = load_cache(cache_path)
    return save_cache(dataclasses.replace(c, **{m: None for m in NEW}), out)


def load_times(path: Path, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(path)], capture_output=True, text=True, env=env())
        if proc.returncode:
            raise SystemExit(proc.stderr[-800:])
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return min(times), statistics.median(times)


def uses(path: Path, repeats: int) -> dict:
    """Per-request costs on the loaded cache: a map of a class the pass did not draw, the 20 nearest, the
    near-duplicates (cold)."""
    from engine.analysis.analysed_run import open_run
    from engine.analysis.any_class_maps import cam_of, stores_any_class
    from engine.analysis.similar_images import near_duplicates, nearest

    run = open_run(path)
    c = run.cache
    out: dict = {}
    rng = np.random.default_rng(0)
    if stores_any_class(c):
        times = []
        for _ in range(50):
            i = int(rng.integers(c.num_images))
            k = next(k for k in rng.permutation(c.num_classes) if c.cam_for(i, int(k)) is None)
            t = time.perf_counter()
            cam_of(c, i, int(k))
            times.append(time.perf_counter() - t)
        out["any_class_map_ms_median"] = round(statistics.median(times) * 1e3, 3)
    if c.features is not None:
        t = time.perf_counter()
        u = run.unit_features
        out["unit_features_s"] = round(time.perf_counter() - t, 3)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            nearest(u, int(rng.integers(c.num_images)))
            times.append(time.perf_counter() - t)
        out["nearest_20_ms_median"] = round(statistics.median(times) * 1e3, 2)
        times, found = [], None
        for _ in range(max(1, repeats // 2)):
            t = time.perf_counter()
            found = near_duplicates(u)
            times.append(time.perf_counter() - t)
        out["near_duplicates_s_median"] = round(statistics.median(times), 3)
        out["near_duplicate_pairs"] = found.total
    out["stored"] = c.meta.get("any_class_maps", {}).get("stored")
    return out


def report(name: str, after: Path, repeats: int, run_s: float | None, printed: str) -> dict:
    before = without_new_members(after, after.with_name("before_" + after.name))
    size_a, size_b = after.stat().st_size, before.stat().st_size
    la, lb = load_times(after, repeats), load_times(before, repeats)
    result = {"case": name, "cache_bytes_before": size_b, "cache_bytes_after": size_a,
              "growth_bytes": size_a - size_b, "load_s_before_best_median": [round(v, 4) for v in lb],
              "load_s_after_best_median": [round(v, 4) for v in la], "run_s": None if run_s is None else round(run_s, 1),
              **uses(after, repeats)}
    line = next((l for l in printed.splitlines() if l.startswith("Any class's map")), None)
    result["printed"] = line
    print(json.dumps(result, indent=1), flush=True)
    return result


def r56(args) -> dict:
    if args.r56_cache:
        return report("resnet56-cifar100", Path(args.r56_cache), args.repeats, None, "")
    out = Path(tempfile.mkdtemp(prefix="bench_any_class_r56_"))
    flags = ["--data", str(args.shared / "cifar100"), "--arch", "cifar_resnet56", "--checkpoint",
             str(args.shared / "models" / "chenyaofo_cifar100_resnet56.pth"), "--out", str(out)]
    if args.limit:
        flags += ["--limit", str(args.limit)]
    seconds, printed = run_engine(flags)
    return report("resnet56-cifar100" + (f"-limit{args.limit}" if args.limit else ""), out / "cache.npz",
                  args.repeats, seconds, printed)


def folder224(args) -> dict:
    import json as js

    import torch
    import torchvision
    from PIL import Image

    root = Path(tempfile.mkdtemp(prefix="bench_any_class_224_"))
    data = root / "images"
    meta = js.loads((args.shared / "cifar100" / "meta.json").read_text())
    names = meta.get("fine_label_names")
    images = np.load(args.shared / "cifar100" / "test_images.npy", mmap_mode="r")
    labels = np.load(args.shared / "cifar100" / "test_fine_labels.npy")
    n = args.folder_images
    for i in range(n):
        cls = names[int(labels[i])] if names else f"class_{int(labels[i]):03d}"
        (data / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(images[i])).resize((224, 224), Image.BILINEAR).save(data / cls / f"{i:05d}.png")
    classes = len([p for p in data.iterdir() if p.is_dir()])
    torch.manual_seed(0)
    ckpt = root / "resnet18_random.pth"
    torch.save(torchvision.models.resnet18(num_classes=classes).state_dict(), ckpt)
    out = root / "out"
    seconds, printed = run_engine(["--data", str(data), "--arch", "tv_resnet18", "--checkpoint", str(ckpt),
                                   "--out", str(out), "--mean", "0.485", "0.456", "0.406",
                                   "--std", "0.229", "0.224", "0.225"])
    result = report(f"resnet18-random-imagefolder224-{n}img-{classes}cls", out / "cache.npz", args.repeats, seconds,
                    printed)
    return result


def pass_cost(args) -> dict:
    """The one pass over the first --pass-images test images with ResNet-56, storing nothing extra for any
    class's map, the activations, or every class's map (the features in all three), alternated, best of 3."""
    import torch

    from engine.gradcam.any_class import ACTIVATIONS, MAPS
    from engine.gradcam.one_pass import OnePass, normalisation, prepare, to_model_input
    from engine.gradcam.probe import probe_model
    from engine.models import load_model

    images = np.ascontiguousarray(np.load(args.shared / "cifar100" / "test_images.npy", mmap_mode="r")[:args.pass_images])
    labels = np.load(args.shared / "cifar100" / "test_fine_labels.npy")[:args.pass_images]
    dev = torch.device("cpu")
    model = prepare(load_model(args.shared / "models" / "chenyaofo_cifar100_resnet56.pth", 100,
                               arch="cifar_resnet56").model, dev)
    mean, std = (0.5070, 0.4865, 0.4409), (0.2673, 0.2564, 0.2761)
    m, s = normalisation(mean, std, dev)
    probe = probe_model(model, to_model_input(images[:2], m, s, dev), 100, "layer3")
    best: dict[str, float] = {}
    for _ in range(3):
        for kind in (None, ACTIVATIONS, MAPS):
            with OnePass(model, probe, mean, std, dev, 256, any_class=kind) as one:
                t = time.perf_counter()
                for start in range(0, len(labels), 256):
                    one(images[start:start + 256], labels[start:start + 256])
                took = time.perf_counter() - t
            best[str(kind)] = min(best.get(str(kind), float("inf")), took)
    result = {"case": f"pass-resnet56-{len(labels)}img", **{f"pass_s_{k}": round(v, 3) for k, v in best.items()},
              "activations_over_none": round(best[ACTIVATIONS] / best["None"], 3),
              "maps_over_none": round(best[MAPS] / best["None"], 3)}
    print(json.dumps(result, indent=1), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--r56-cache", default=None)
    ap.add_argument("--folder-images", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pass-images", type=int, default=1024)
    ap.add_argument("--sections", default="r56,folder224,pass")
    args = ap.parse_args()
    args.shared = args.shared.resolve()
    for section in args.sections.split(","):
        {"r56": r56, "folder224": folder224, "pass": pass_cost}[section](args)


if __name__ == "__main__":
    main()
