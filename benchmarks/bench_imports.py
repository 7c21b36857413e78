"""Start-up: what each command imports and how long that takes, for this checkout and (with --baseline) another
one, alternated (run by hand; not part of the test suite).

For each command: the sum of the top-level imports' cumulative times in `python -X importtime` (the main
process only), the heavy packages it loaded (torch, torchvision, torch.distributed, torch._dynamo, pandas,
matplotlib, plotly, textual), and its wall time; medians of --repeats. A baseline tree is typically the
last commit: `mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base`.

Usage: python benchmarks/bench_imports.py [--shared ../shared] [--baseline DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)")
HEAVY = ("torch", "torchvision", "torch.distributed", "torch._dynamo", "pandas", "matplotlib", "plotly", "textual")
TUI_FIRST_SCREEN = (
    "import sys, tui.app\n"
    "class First(tui.app.GradCamApp):\n"
    "    def on_ready(self): self.exit()\n"
    "    def run(self, **kw): super().run(headless=True, size=(120, 40))\n"
    "tui.app.GradCamApp = First\n"
    "from tui.__main__ import main\nmain([sys.argv[1]])\n")


def timed(cmd: list[str], tree: Path) -> tuple[float, subprocess.CompletedProcess]:
    """A whole process with `tree` first on the import path (its engine, not the installed one)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env)
    return time.perf_counter() - t, proc


def imports(stderr: str) -> tuple[float, set[str]]:
    """Seconds of the top-level imports, and which heavy packages were imported."""
    found = [(int(m[1]), m[2], m[3]) for m in IMPORT_LINE.finditer(stderr)]
    seconds = sum(us for us, indent, _ in found if indent == "") / 1e6
    return seconds, {name for _, _, name in found if name in HEAVY}


def commands(shared: Path, tmp: str, demo: str) -> dict[str, list[str]]:
    run = ["-m", "engine", "run", "--data", str(shared / "cifar100"), "--arch", "cifar_resnet56",
           "--checkpoint", str(shared / "models" / "chenyaofo_cifar100_resnet56.pth"), "--limit", "2000"]
    return {
        "gradcam-batch --version": ["-m", "engine", "--version"],
        "gradcam-batch --help": ["-m", "engine", "--help"],
        "run --limit 2000 --no-reports": [*run, "--no-reports", "--out", f"{tmp}/n"],
        "run --limit 2000 (reports)": [*run, "--out", f"{tmp}/r"],
        "report (demo cache)": ["-m", "engine", "report", "--cache", demo, "--out", f"{tmp}/rep"],
        "compare (demo vs itself)": ["-m", "engine", "compare", demo, demo, "--out", f"{tmp}/cmp"],
        "gradcam-tui --version": ["-m", "tui", "--version"],
        "gradcam-tui to its first screen (demo cache)": ["-c", TUI_FIRST_SCREEN, demo],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--baseline", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated command names (a substring of each) to measure")
    args = ap.parse_args()
    trees = {"this tree": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp:
        demo = f"{tmp}/demo"
        _, proc = timed([sys.executable, "-m", "engine", "demo", "--out", demo], ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; medians of {args.repeats}, trees alternated")
        print("| command | tree | imports (s) | wall (s) | heavy packages imported |\n| --- | --- | --- | --- | --- |")
        for name, cmd in commands(args.shared.resolve(), tmp, demo).items():
            if args.only and not any(part in name for part in args.only.split(",")):
                continue
            seen: dict[str, tuple[list[float], list[float], set[str]]] = {t: ([], [], set()) for t in trees}
            for _ in range(args.repeats):
                for label, tree in trees.items():
                    wall, proc = timed([sys.executable, "-X", "importtime", *cmd], tree)
                    if proc.returncode != 0:  # a command the baseline does not have (--version)
                        seen[label][2].add(f"failed: exit {proc.returncode}")
                        continue
                    seconds, heavy = imports(proc.stderr)
                    seen[label][0].append(seconds)
                    seen[label][1].append(wall)
                    seen[label][2].update(heavy)
            for label, (secs, walls, heavy) in seen.items():
                if not secs:
                    print(f"| {name} | {label} | - | - | {', '.join(sorted(heavy))} |", flush=True)
                    continue
                print(f"| {name} | {label} | {statistics.median(secs):.2f} | {statistics.median(walls):.2f} | "
                      f"{', '.join(h for h in HEAVY if h in heavy) or 'none'} |", flush=True)


if __name__ == "__main__":
    main()
