"""Wall time of write_reports on a 10,000-image, 100-class cache (target: under 20 s on 2 CPU cores).

    python benchmarks/bench_reports.py                    # gradcam_results/cache.npz if present, else synthetic
    python benchmarks/bench_reports.py --cache run.npz    # a given cache
    python benchmarks/bench_reports.py --workers 1        # the serial path, for comparison

The synthetic cache (tests/synthetic.py, 100 per class x 100 classes) is saved under .bench/ and reused.
Prints wall seconds, CPU seconds (this process + workers) and the load average, since a busy machine
inflates wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.analysis.analysed_run import AnalysedRun  # noqa: E402
from engine.reports.writer import default_workers, write_reports  # noqa: E402
from engine.store import DEFAULT_CACHE, load_cache, save_cache  # noqa: E402

SYNTHETIC = ROOT / ".bench" / "synthetic_10000x100.npz"


def get_cache(path: str | None):
    if path:
        return load_cache(path), path
    if (ROOT / DEFAULT_CACHE).exists():
        return load_cache(ROOT / DEFAULT_CACHE), str(DEFAULT_CACHE)
    if not SYNTHETIC.exists():
        from tests.synthetic import synthetic_cache

        save_cache(synthetic_cache(n_per_class=100, num_classes=100), SYNTHETIC)
    return load_cache(SYNTHETIC), f"synthetic ({SYNTHETIC.relative_to(ROOT)})"


def cpu_seconds() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", help="cache .npz to use (default: gradcam_results/cache.npz, else synthetic)")
    ap.add_argument("--out", help="output folder (default: a temporary folder, removed afterwards)")
    ap.add_argument("--workers", type=int, default=None, help=f"worker processes (default {default_workers()})")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    cache, source = get_cache(args.cache)
    print(f"cache: {source}: {cache.num_images} images, {cache.num_classes} classes")
    print(f"cpu cores available: {default_workers()}, load average before: {os.getloadavg()[0]:.2f}")
    for k in range(args.repeat):
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_reports_"))
        run = AnalysedRun(cache)
        run.metrics, run.selections  # part of opening a run; calibration, attention, suspects count as reports
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        paths = write_reports(run, out, progress=False, workers=args.workers)
        wall = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
        size = sum(p.stat().st_size for p in paths)
        print(
            f"run {k + 1}: write_reports wall {wall:.2f} s, cpu {cpu:.2f} s, {len(paths)} files, "
            f"{size / 1e6:.1f} MB, load average after: {os.getloadavg()[0]:.2f}"
        )
        if not args.out:
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
