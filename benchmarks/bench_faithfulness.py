"""What --faithfulness costs, measured side by side (run by hand; not part of the test suite).

`gradcam-batch run` on all 10,000 CIFAR-100 test images with the shared ResNet-56, with every report, as a
whole process: once plain and once with --faithfulness at the default sample (or --sample), alternated
--repeats times; prints the median walls, their ratio (the target: at most 2.5x), the faithfulness step's
own seconds from the cache's timings, and what the faithfulness run found (deletion/insertion AUCs, average
drop / increase in confidence, the sanity verdicts) as analysis_summary.txt says it.

Usage: python benchmarks/bench_faithfulness.py [--shared ../shared] [--repeats 1] [--sample 10] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(shared: Path, out: Path, extra: list[str], limit: int | None) -> float:
    cmd = [sys.executable, "-m", "engine", "run", "--data", str(shared / "cifar100"), "--arch", "cifar_resnet56",
           "--checkpoint", str(shared / "models" / "chenyaofo_cifar100_resnet56.pth"), "--out", str(out), *extra]
    if limit:
        cmd += ["--limit", str(limit)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--sample", default=None, help="--faithfulness-sample (default: the tool's default)")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    if not (args.shared / "cifar100" / "test_images.npy").exists():
        sys.exit(f"No CIFAR-100 test split under {args.shared}; pass --shared.")
    faith = ["--faithfulness", *(["--faithfulness-sample", args.sample] if args.sample else [])]
    plain_walls, faith_walls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        plain_out, faith_out = Path(tmp) / "plain", Path(tmp) / "faith"
        for _ in range(args.repeats):
            plain_walls.append(run(args.shared, plain_out, [], args.limit))
            print(f"plain run: {plain_walls[-1]:.1f} s", flush=True)
            faith_walls.append(run(args.shared, faith_out, faith, args.limit))
            print(f"--faithfulness run: {faith_walls[-1]:.1f} s", flush=True)
        from engine.store import load_cache

        cache = load_cache(faith_out / "cache.npz")
        summary = (faith_out / "analysis_summary.txt").read_text(encoding="utf-8")
    plain, faithful = statistics.median(plain_walls), statistics.median(faith_walls)
    t = cache.meta.get("timings", {})
    f = cache.meta.get("faithfulness", {})
    print(f"plain run:         {plain:6.1f} s (median of {args.repeats}: {', '.join(f'{w:.1f}' for w in plain_walls)})")
    print(f"--faithfulness:    {faithful:6.1f} s (median of {args.repeats}: {', '.join(f'{w:.1f}' for w in faith_walls)})")
    print(f"ratio:             {faithful / plain:6.2f}x (target <= 2.5x)")
    print(f"faithfulness step: {t.get('faithfulness_s', float('nan')):.1f} s for {f.get('images')} images "
          f"({f.get('per_class')} per class, {f.get('steps')} steps over {f.get('cells')} cells, "
          f"{2 * int(f.get('steps', 0))} model inputs each); model randomisation "
          f"{t.get('model_randomisation_s', float('nan')):.1f} s; the pass itself {t.get('forward_and_cam_s', float('nan')):.1f} s")
    print()
    sanity = summary.split("Grad-CAM: sanity check and baselines\n", 1)[-1].split("The true- and predicted", 1)[0]
    print(sanity.strip("-\n"))
    print()
    faith_section = summary.split("Grad-CAM: faithfulness (deletion / insertion)\n", 1)[-1].split("\nAttention\n", 1)[0]
    print(faith_section.strip("-\n"))
    print(json.dumps({"plain_s": plain, "faithfulness_s": faithful, "ratio": faithful / plain}, indent=None))


if __name__ == "__main__":
    main()
