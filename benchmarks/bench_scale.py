"""Scaling figures, run by hand (not part of the test suite).

1. Throughput on this machine's CPUs: `gradcam-batch run` with 1 process x T threads vs `torchrun
   --nproc-per-node P` x 1 thread each (T = P = the CPUs; 1 process x 1 thread for reference), on a synthetic arrays folder of --n 32x32 images
   (CIFAR-ResNet-20, 100 classes, random weights: the cost of a real one). Images/s of the pass (from the
   cache's own timing, rank 0 including the gather) and wall time of the whole command (start-up included).
2. Peak RSS of `gradcam-batch run` at N and 10N images (--rss-n), cache folder vs cache.npz, reports off:
   VmHWM of the process (no DataLoader workers: .npy rows are read in the main process).
3. With --million: a synthetic 1,000,000-image cache folder (32x32 images, 10 classes, 8x8 CAMs; ~5 GB on
   disk) is written, then opened in a fresh process: load_cache, the metrics, and gradcam-tui's first
   screen with data (headless), with the time and peak RSS of each.

    python benchmarks/bench_scale.py [--n 5000] [--rss-n 5000] [--repeats 2] [--work /tmp/gradcam_bench_scale]
                                     [--skip-throughput] [--skip-rss] [--million]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEASURE = r"""
import atexit, sys
def peak_kb():  # VmHWM: this process's own peak (ru_maxrss would carry over the parent's across fork + exec)
    return next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
atexit.register(lambda: print(f"MAXRSS_KB {peak_kb()}", file=sys.stderr))
from engine.cli import main
sys.argv = ["gradcam-batch", *sys.argv[1:]]
main()
"""

OPEN_CHILD = r"""
import json, sys, time
def rss(): return int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))) / 1024
t0 = time.time()
from engine.analysis.analysed_run import AnalysedRun
from engine.store import load_cache
from tui.app import GradCamApp
t_import = time.time()
cache = load_cache(sys.argv[1])
t_load, rss_load = time.time(), rss()
run = AnalysedRun(cache)
run.metrics
t_analysis, rss_analysis = time.time(), rss()
class Timed(GradCamApp):
    def on_ready(self):
        self.exit(json.dumps({"import_s": t_import - t0, "load_s": t_load - t_import, "rss_after_load_mb": rss_load,
                              "analysis_s": t_analysis - t_load, "rss_after_analysis_mb": rss_analysis,
                              "first_screen_s": time.time() - t0, "rss_first_screen_mb": rss(),
                              "images": cache.num_images, "memmap": type(cache.images).__name__}))
print(Timed(run, out_dir=".").run(headless=True, size=(120, 40)))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def arrays_folder(folder: Path, n: int, classes: int = 100) -> Path:
    if (folder / "meta.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    images = np.lib.format.open_memmap(folder / "test_images.npy", mode="w+", dtype=np.uint8, shape=(n, 32, 32, 3))
    for start in range(0, n, 10_000):
        stop = min(n, start + 10_000)
        images[start:stop] = rng.integers(0, 256, (stop - start, 32, 32, 3), dtype=np.uint8)
    images.flush()
    del images
    np.save(folder / "test_fine_labels.npy", np.arange(n) % classes)
    (folder / "meta.json").write_text(json.dumps({"fine_label_names": [f"c{i}" for i in range(classes)]}))
    return folder


def checkpoint(work: Path) -> Path:
    path = work / "r20_100.pth"
    if not path.exists():
        import torch

        from engine.models.cifar_resnet import cifar_resnet

        torch.manual_seed(0)
        torch.save(cifar_resnet(20, 100).state_dict(), path)
    return path


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc.stderr


def engine_args(data: Path, ckpt: Path, out: Path, fmt: str = "npz") -> list[str]:
    return ["run", "--data", str(data), "--arch", "cifar_resnet20", "--checkpoint", str(ckpt), "--device", "cpu",
            "--no-reports", "--cache-format", fmt, "--out", str(out)]


def pass_rate(out: Path, n: int) -> float:
    from engine.store import load_cache, resolve_cache_path

    return n / load_cache(resolve_cache_path(out)).meta["timings"]["forward_and_cam_s"]


def throughput(work: Path, n: int, repeats: int) -> None:
    cpus = len(os.sched_getaffinity(0))
    data, ckpt = arrays_folder(work / f"arrays_{n}", n), checkpoint(work)
    py = sys.executable
    configs = {
        "1 process x 1 thread (reference)": ([py, "-m", "engine"], {"OMP_NUM_THREADS": "1"}),
        f"1 process x {cpus} threads": ([py, "-m", "engine"], {"OMP_NUM_THREADS": str(cpus)}),
        f"{cpus} processes x 1 thread (torchrun, gloo)": (
            [py, "-m", "torch.distributed.run", "--nproc-per-node", str(cpus), "--master-addr", "127.0.0.1",
             "--master-port", "{port}", "-m", "engine"], {"OMP_NUM_THREADS": "1"}),
    }
    print(f"\n1. Throughput, {n} images 32x32, CIFAR-ResNet-20 (100 classes), {cpus} CPUs")
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
    for r in range(repeats):
        for name, (prefix, extra) in configs.items():
            out = work / f"tp_{r}_{list(configs).index(name)}"
            cmd = [c.replace("{port}", str(free_port())) for c in prefix] + engine_args(data, ckpt, out)
            wall, _ = run(cmd, {**os.environ, "CUDA_VISIBLE_DEVICES": "", **extra})
            results[name].append((pass_rate(out, n), wall))
            shutil.rmtree(out, ignore_errors=True)
    for name, rows in results.items():
        rates = ", ".join(f"{r:.0f}" for r, _ in rows)
        walls = ", ".join(f"{w:.1f}" for _, w in rows)
        print(f"  {name:<42} pass {rates} img/s; whole command {walls} s")


def peak_rss(work: Path, n: int) -> None:
    ckpt = checkpoint(work)
    script = work / "measure.py"
    script.write_text(MEASURE)
    print(f"\n2. Peak RSS of `gradcam-batch run` (CIFAR-ResNet-20, 100 classes, 32x32, reports off, 1 process)")
    for fmt in ("folder", "npz"):
        for size in (n, 10 * n):
            data = arrays_folder(work / f"arrays_{size}", size)
            out = work / f"rss_{fmt}_{size}"
            wall, err = run([sys.executable, str(script), *engine_args(data, ckpt, out, fmt)], dict(os.environ, CUDA_VISIBLE_DEVICES=""))
            rss = int(err.split("MAXRSS_KB")[-1].split()[0]) / 1024
            print(f"  {fmt:<7} N={size:>7,}: peak RSS {rss:7.0f} MB, wall {wall:5.1f} s")
            shutil.rmtree(out, ignore_errors=True)


def million(work: Path, n: int = 1_000_000, classes: int = 10) -> None:
    from engine.store import RunCache
    from engine.store.folder import FolderCacheWriter, finish_cache_folder

    target = work / "million" / "cache"
    if not (target / "manifest.json").exists():
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        with FolderCacheWriter(target, n) as w:
            for start in range(0, n, 50_000):
                b = min(n, start + 50_000) - start
                labels = (np.arange(start, start + b) % classes).astype(np.int64)
                logits = rng.normal(0, 1, (b, classes)).astype(np.float32)
                logits[np.arange(b), labels] += 2
                probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
                w.write_rows("images", start, rng.integers(0, 256, (b, 32, 32, 3), dtype=np.uint8))
                w.write_rows("labels", start, labels)
                w.write_rows("logits", start, logits)
                w.write_rows("probs", start, probs.astype(np.float32))
                w.write_rows("topk_classes", start, np.argsort(-probs, 1, kind="stable")[:, :5].astype(np.int64))
                w.write_rows("cam_true", start, rng.random((b, 8, 8), dtype=np.float32))
                w.write_rows("cam_topk", start, rng.random((b, 5, 8, 8), dtype=np.float32))
            rows = w.rows_written()
            cache = RunCache(images=rows["images"], labels=rows["labels"], probs=rows["probs"], topk_classes=rows["topk_classes"],
                             cam_true=rows["cam_true"], cam_topk=rows["cam_topk"], class_names=[f"c{i}" for i in range(classes)],
                             meta={"tool_version": "bench", "data": {"source": "synthetic", "num_images": n}}, logits=rows["logits"])
            finish_cache_folder(w, cache)
        size = sum(p.stat().st_size for p in target.iterdir()) / 2**30
        print(f"\n3. Wrote a {n:,}-image cache folder ({size:.1f} GiB) in {time.perf_counter() - t0:.0f} s")
    child = work / "open_child.py"
    child.write_text(OPEN_CHILD)
    proc = subprocess.run([sys.executable, str(child), str(target)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"   open {r['images']:,} images ({r['memmap']}): imports {r['import_s']:.2f} s, load_cache {r['load_s']:.2f} s "
          f"(peak RSS {r['rss_after_load_mb']:.0f} MB), analysis {r['analysis_s']:.2f} s (peak RSS {r['rss_after_analysis_mb']:.0f} MB), "
          f"gradcam-tui first screen at {r['first_screen_s']:.2f} s (peak RSS {r['rss_first_screen_mb']:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rss-n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/gradcam_bench_scale"))
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--million", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    print(f"torch {torch.__version__}, {len(os.sched_getaffinity(0))} CPUs, CUDA: {torch.cuda.is_available()}")
    if not args.skip_throughput:
        throughput(args.work, args.n, args.repeats)
    if not args.skip_rss:
        peak_rss(args.work, args.rss_n)
    if args.million:
        million(args.work)


if __name__ == "__main__":
    main()
