"""The GPU check, in one go: `gradcam-batch run` with every report on the CIFAR-100 test split, whole process,
for ResNet-56 (the shared checkpoint) and a CIFAR-stem ResNet-34 (random weights: speed only), in each
precision the run offers; img/s of the pass (the cache's own timings), peak GPU memory, top-1, and 1 vs N
GPUs under torchrun where the machine has several. Run by hand; not part of the test suite.

Needs torch, torchvision, numpy, pandas, matplotlib, rich and typer; not textual. Without plotly (which only
the HTML report uses) the runs get a stand-in module and that page is written without plotly.js.

Data: copy it into device_data/ (git-ignored; take it along with the checkout to the GPU machine):
    mkdir -p device_data/models && cp -r ../shared/cifar100 device_data/ &&
        cp ../shared/models/chenyaofo_cifar100_resnet56.pth device_data/models/
Then, from the checkout (on the GPU machine):
    PYTHONPATH=. python3 benchmarks/bench_gpu.py [--precisions fp32,tf32,bf16] [--limit N] [--summary FILE]

tf32 is `--precision fp32 --tf32`. Without CUDA everything runs on the CPU (use a small --limit): the same
code path, CPU figures; tf32 is skipped there, and bf16 is refused by the run on a CPU without native bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "device_data"  # git-ignored; the copy of ../shared that travels to the GPU machine
CHECKPOINT = "models/chenyaofo_cifar100_resnet56.pth"
FULL_RUN_TARGET_S = 10.0  # the CIFAR ResNet-34 full run with reports, on a GPU
PEAK = "bench_gpu:"  # the line each run's process prints at exit

# each run is engine.cli.main() in a process that reports its peak memory at exit (every rank under torchrun)
CHILD = f'''import atexit, os, resource, sys
def _peak():
    cuda = -1
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
        cuda = sys.modules["torch"].cuda.max_memory_allocated()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{PEAK} rank={{os.environ.get('RANK', '0')}} cuda_peak={{cuda}} rss_peak={{rss}}", file=sys.stderr, flush=True)
atexit.register(_peak)
from engine.cli import main
main()
'''
PLOTLY_STAND_IN = '''def get_plotlyjs():
    return "/* plotly.js was not installed where this benchmark ran */"
'''


def find_data(folder: Path | None) -> Path:
    for base in [folder] if folder else [DATA, ROOT.parent / "shared"]:
        if base and (base / "cifar100" / "test_images.npy").exists() and (base / CHECKPOINT).exists():
            return base
    sys.exit(f"No data: copy CIFAR-100 and the ResNet-56 checkpoint into {DATA} (see this script's docstring).")


def run_options() -> tuple[set[str], str]:
    """The options `gradcam-batch run` takes, and the help text of --precision ('' without one)."""
    from typer.main import get_command

    from engine.cli import app

    command = get_command(app).commands["run"]
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    helps = [getattr(p, "help", "") or "" for p in command.params if "--precision" in getattr(p, "opts", [])]
    return options, (helps[0] if helps else "")


def precision_args(name: str, options: set[str], precision_help: str) -> list[str] | None:
    """The flags that ask the run for this precision, or None (and why, printed) where it has none."""
    if "--precision" not in options:
        if name == "fp32":
            return []
        print(f"skipped {name}: `gradcam-batch run` has no --precision yet (fp32 only)")
        return None
    if name == "tf32" and "tf32" not in precision_help:
        if "--tf32" in options:
            return ["--precision", "fp32", "--tf32"]
        print("skipped tf32: `gradcam-batch run --precision` does not offer it")
        return None
    return ["--precision", name]


def random_resnet34(path: Path) -> Path:
    import torch

    from engine.models.architectures import ARCHITECTURES

    torch.manual_seed(0)
    torch.save(ARCHITECTURES["resnet34"][0](100).state_dict(), path)
    return path


def machine() -> tuple[str, int]:
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA: CPU, {os.cpu_count()} cores, torch {torch.__version__}", 0
    n = torch.cuda.device_count()
    text = f"{n} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True)
        text += "; nvidia-smi: " + "; ".join(smi.stdout.strip().splitlines())
    return text, n


def one_run(child: Path, env: dict[str, str], run_args: list[str], out: Path, processes: int) -> dict:
    """One whole `gradcam-batch run` process (under torchrun for processes > 1): wall time, the cache's
    timings and top-1, the peak memories its ranks reported."""
    from engine.store import load_cache, resolve_cache_path

    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    t0 = time.perf_counter()
    proc = subprocess.run(launcher + [str(child), *run_args, "--out", str(out)], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    peaks = [dict(kv.split("=") for kv in line.split()[1:]) for line in proc.stderr.splitlines() if line.startswith(PEAK)]
    row = {"wall_s": round(wall, 2), "returncode": proc.returncode,
           "cuda_peak_mib": max((int(p["cuda_peak"]) for p in peaks), default=-1) / 2**20,
           "rss_peak_mib": max((int(p["rss_peak"]) for p in peaks), default=-1) / 2**20}
    if proc.returncode != 0:
        row["error"] = "\n".join(l for l in proc.stderr.splitlines() if not l.startswith(PEAK))[-800:]
        return row
    cache = load_cache(resolve_cache_path(out))
    meta = cache.meta
    pass_s = float(meta.get("timings", {}).get("forward_and_cam_s", float("nan")))
    row.update(images=cache.num_images, pass_s=pass_s, pass_img_s=round(cache.num_images / pass_s),
               top1=meta.get("metrics", {}).get("top1"), device=meta.get("device"), timings=meta.get("timings"),
               reports=len(list(out.glob("*.png"))) + len(list(out.glob("*.csv"))))
    if "precision" in meta:  # what the run records about its precision, and its measure against fp32
        row["precision_meta"] = meta["precision"]
    return row


def line(name: str, precision: str, processes: int, row: dict) -> str:
    if row["returncode"] != 0:
        return f"| {name} | {precision} | {processes} | failed (exit {row['returncode']}): {row['error'][-200:]!r} |"
    cuda = f"{row['cuda_peak_mib']:,.0f} MiB" if row["cuda_peak_mib"] >= 0 else "n/a"
    top1 = f"{row['top1'] * 100:.2f}%" if row.get("top1") is not None else "?"
    check = (row.get("precision_meta") or {}).get("against_fp32")
    versus = (f"{check['predictions_changed']}/{check['probe_images']} changed, max prob diff "
              f"{check['max_probability_difference']:.3f}, map rank corr {check['map_rank_correlation_median']}"
              if check else "exact" if precision == "fp32" else "-")
    return (f"| {name} | {precision} | {processes} | {row['images']:,} | {row['wall_s']:.1f} s | {row['pass_s']:.2f} s "
            f"| {row['pass_img_s']:,} | {cuda} | {row['rss_peak_mib']:,.0f} MiB | {top1} | {versus} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help=f"folder holding cifar100/ and {CHECKPOINT} (default: {DATA}, else ../shared)")
    ap.add_argument("--precisions", default="fp32,tf32,bf16")
    ap.add_argument("--archs", default="cifar_resnet56,resnet34")
    ap.add_argument("--limit", type=int, default=None, help="the first N images only (a quick check; default all 10,000)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each configuration (the figures of each are printed)")
    ap.add_argument("--summary", type=Path, default=None, help="also write the table and the raw figures (JSON) here")
    ap.add_argument("--keep", type=Path, default=None, help="keep each run's output folder under this folder")
    ap.add_argument("--processes", type=int, default=None,
                    help="also run fp32 under torchrun with this many processes (default: the GPUs, when several)")
    args = ap.parse_args()

    base = find_data(args.data)
    options, precision_help = run_options()
    where, gpus = machine()
    print(f"machine: {where}")
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_gpu_"))
    work.mkdir(parents=True, exist_ok=True)
    child = work / "run_child.py"
    child.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if find_spec("plotly") is None:
        stand_in = work / "stand_in" / "plotly"
        stand_in.mkdir(parents=True, exist_ok=True)
        (stand_in / "__init__.py").write_text("")
        (stand_in / "offline.py").write_text(PLOTLY_STAND_IN)
        env["PYTHONPATH"] += os.pathsep + str(stand_in.parent)  # after everything: a real plotly would win
        print("plotly is not installed: the HTML report is written with a stand-in for plotly.js (one file of the reports)")
    checkpoints = {"cifar_resnet56": base / CHECKPOINT, "resnet34": random_resnet34(work / "resnet34_random.pth")}
    device = "cuda" if gpus else "cpu"
    common = ["run", "--data", str(base / "cifar100"), "--device", device] + (["--limit", str(args.limit)] if args.limit else [])

    header = ("| model | precision | processes | images | whole run (process, reports included) | pass | pass img/s "
              "| peak GPU memory (max_memory_allocated) | peak RSS | top-1 | vs fp32 (first batch) |\n" + "| --- " * 11 + "|")
    rows, table = [], [header]
    flags = {prec: precision_args(prec, options, precision_help) for prec in args.precisions.split(",")}
    if not gpus and flags.get("tf32") is not None:
        print("skipped tf32: a CUDA setting, and this machine has no CUDA")
        flags["tf32"] = None
    plan = [(arch, prec, 1) for arch in args.archs.split(",") for prec, extra in flags.items() if extra is not None]
    processes = args.processes or (gpus if gpus > 1 else 0)
    if processes > 1:
        plan += [(arch, "fp32", processes) for arch in args.archs.split(",")]
    elif gpus == 1:
        print("one GPU: no 1 vs N comparison under torchrun")
    for arch, prec, processes in plan:
        extra = flags.get(prec) or []
        for r in range(args.repeats):
            out = work / f"{arch}_{prec}_x{processes}_{r}"
            shutil.rmtree(out, ignore_errors=True)
            row = one_run(child, env, common + ["--arch", arch, "--checkpoint", str(checkpoints[arch]), *extra], out, processes)
            row.update(arch=arch, precision=prec, processes=processes)
            rows.append(row)
            table.append(line(arch, prec, processes, row))
            print(table[-1], flush=True)
            if args.keep is None:
                shutil.rmtree(out, ignore_errors=True)
    full = [r for r in rows if r["arch"] == "resnet34" and r["processes"] == 1 and r["returncode"] == 0
            and r.get("images") == 10_000]
    verdict = (f"ResNet-34 full run with reports: best {min(r['wall_s'] for r in full):.1f} s "
               f"(target <= {FULL_RUN_TARGET_S:.0f} s on a GPU)" if full else "ResNet-34 full run: not measured here")
    text = f"machine: {where}\n\n" + "\n".join(table) + f"\n\n{verdict}\n"
    print("\n" + text)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(text + "\n```json\n" + json.dumps(rows, indent=1, default=str) + "\n```\n")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if any(r["returncode"] != 0 for r in rows) else 0)


if __name__ == "__main__":
    main()
