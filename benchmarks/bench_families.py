"""Grad-CAM over torchvision's classification builders (run by hand; not part of the test suite).

1. walk: every builder of torchvision.models (list_models), seeded random weights, at the small input of
   tests/engine/families.py: the probe's layer is the family's last feature stage with a grid of at least 2x2.
   tests/engine/test_gradcam_families.py checks one member per family (and the maps against pytorch-grad-cam).
2. table: one member per family at 224 px: the default layer, its grid and layout, the CAM path, and the cost
   of the CAMs (true class + top-5) relative to the forward: the engine's whole pass over the images (forward
   and CAMs) over a bare inference-mode forward of the same batch on the same CPU lanes (the best of --repeats each, the two
   alternated: on a shared machine the best is the least disturbed).
3. peer: ViT-B/16 and ConvNeXt-T at 224 px: time and peak memory per image of the engine's pass (true + top-5
   maps) vs pytorch-grad-cam's GradCAM for the true and the predicted class (two calls, as its README uses
   it), each in a fresh process; peak memory is the process's peak RSS over the RSS before the pass (on CUDA,
   torch.cuda.max_memory_allocated).

Usage: python benchmarks/bench_families.py [--sections walk,table,peer] [--images 8] [--repeats 3]
                                           [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.gradcam.lanes import lane_count, lane_pool, make_lanes, run_on_lanes  # noqa: E402
from engine.gradcam.one_pass import OnePass, prepare, to_model_input  # noqa: E402
from engine.gradcam.probe import probe_model  # noqa: E402
from tests.engine.families import (  # noqa: E402
    IMAGENET_MEAN, IMAGENET_STD, build_torchvision, draw_zero_weights, expected_layer, family, quick_random_init,
    reference_maps)
from tests.engine.test_gradcam_families import REPRESENTATIVES  # noqa: E402

CLASSES = 1000


def walk() -> None:
    import torchvision

    names = sorted(torchvision.models.list_models(module=torchvision.models))
    started, bad = time.perf_counter(), 0
    for name in names:
        t = time.perf_counter()
        model, size = build_torchvision(name, 10)
        probe = probe_model(model, torch.randn(2, 3, size, size), 10)
        ok = probe.layer_name == expected_layer(name, model) and min(probe.grid) >= 2
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name:22s} {size:4d} px  {probe.layer_name:40s} "
              f"{probe.grid[0]}x{probe.grid[1]} {probe.grid_layout.kind:6s} {probe.cam_path:11s} "
              f"{time.perf_counter() - t:5.1f} s", flush=True)
    print(f"{len(names) - bad}/{len(names)} builders as expected, {time.perf_counter() - started:.0f} s")


def _build_224(name: str) -> torch.nn.Module:
    import torchvision

    options = {"init_weights": True} if name in ("googlenet", "inception_v3") else {}
    with torch.random.fork_rng(), quick_random_init(0):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None, num_classes=CLASSES, **options)
    return draw_zero_weights(model).eval()  # ViT's zero head would make the logits constant


def _images(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, CLASSES, n)


def table(images: int, repeats: int, device: torch.device) -> None:
    print("| family | member | default layer | grid at 224 px | path | pass / forward |")
    print("|---|---|---|---|---|---|")
    for name in REPRESENTATIVES:
        size = 299 if name == "inception_v3" else 224
        model = prepare(_build_224(name), device)
        x_np, y = _images(images, size)
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        x = to_model_input(x_np, mean.to(device), std.to(device), device)
        probe = probe_model(model, x[:2], CLASSES)
        ours, bare = [], []
        lanes = make_lanes(model, probe.layer_name, lane_count(device))  # the bare forward shares the batch out
        pool = lane_pool(lanes)  # across the same CPU lanes as the pass

        def forward(lane, rows):
            with torch.inference_mode():
                return lane.model(x[rows])

        with OnePass(model, probe, IMAGENET_MEAN, IMAGENET_STD, device, batch_size=images) as one:
            one(x_np[:2], y[:2])  # warm-up
            for _ in range(repeats):
                t = time.perf_counter()
                one(x_np, y)
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                run_on_lanes(lanes, images, forward, pool)
                bare.append(time.perf_counter() - t)
        if pool is not None:
            pool.shutdown()
        kind = "" if probe.grid_layout.kind == "NCHW" else f" ({probe.grid_layout.kind})"
        px = f" at {size} px" if size != 224 else ""
        print(f"| {family(name)} | {name} | `{probe.layer_name}` | {probe.grid[0]}x{probe.grid[1]}{kind}{px} | "
              f"{probe.cam_path} | {min(ours) / min(bare):.2f}x |", flush=True)


def _peak_reset() -> int:
    """Reset the process's peak RSS (Linux) and return the RSS now, in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def peer_one(tool: str, name: str, images: int, device: torch.device) -> dict:
    """One measurement in this process: seconds and peak bytes of the pass over `images` images."""
    model = _build_224(name).to(device)
    x_np, y = _images(images, 224)
    if tool == "ours":
        model = prepare(model, device)
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        probe = probe_model(model, to_model_input(x_np[:2], mean.to(device), std.to(device), device), CLASSES)
        layer, layer_map = probe.layer_name, {**probe.meta()}
    else:
        probe = probe_model(model, torch.randn(2, 3, 224, 224, device=device), CLASSES)
        layer, layer_map = probe.layer_name, probe.meta()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _peak_reset()
    t = time.perf_counter()
    if tool == "ours":
        with OnePass(model, probe, IMAGENET_MEAN, IMAGENET_STD, device, batch_size=images) as one:
            one(x_np, y)
    else:
        with torch.no_grad():
            x = to_model_input(x_np, torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).to(device),
                               torch.tensor(IMAGENET_STD).view(1, 3, 1, 1).to(device), device)
            predicted = model(x).argmax(1).cpu().numpy()
        reference_maps(model, layer, layer_map, x_np, y)
        reference_maps(model, layer, layer_map, x_np, predicted)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda" else _status("VmHWM")) - base
    return {"tool": tool, "name": name, "layer": layer, "path": probe.cam_path, "s_per_image": seconds / images,
            "peak_mib_per_image": peak / images / 2**20, "peak_mib": peak / 2**20}


def peer(images: int, device: torch.device) -> None:
    print(f"{images} images at 224 px, batch {images}, {device}; per image (whole pass / peak memory over the "
          "process's before the pass)")
    for name in ("vit_b_16", "convnext_tiny"):
        for tool in ("ours", "pytorch-grad-cam"):
            out = subprocess.run([sys.executable, __file__, "--peer-one", tool, name, "--images", str(images),
                                  "--device", str(device)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            what = "true + top-5 maps" if tool == "ours" else "true + predicted maps"
            print(f"{name:14s} {tool:17s} {r['layer']:38s} {r['path']:9s} {r['s_per_image']:6.2f} s/image "
                  f"{r['peak_mib_per_image']:7.0f} MiB/image (peak {r['peak_mib']:.0f} MiB)  {what}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="walk,table,peer")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peer-one", nargs=2, metavar=("TOOL", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.peer_one:
        print(json.dumps(peer_one(*args.peer_one, args.images, device)))
        return
    sections = args.sections.split(",")
    if "walk" in sections:
        walk()
    if "table" in sections:
        table(args.images, args.repeats, device)
    if "peer" in sections:
        peer(args.images, device)


if __name__ == "__main__":
    main()
