"""How fast gradcam-tui is where people feel it: launch to first screen with data, and class switches.

    python benchmarks/bench_tui.py [--cache gradcam_results/cache.npz] [--repeats 5] [--switches 40]

Launch is timed from before the child process starts (interpreter start, imports, cache load, compose)
to the app's Ready event (first frame composed), in a headless child, best and median of --repeats; the
child's CPU time up to then is reported too, since wall time on a shared machine includes waiting for a CPU.
Class switch is `]` in the Class view at 120x40: the key handler alone (the view's new state: header,
caption, the drawing asked for), and key press to the end of the last screen update it causes, the figure
included (its panels are built in a thread, then layout, half-block rendering, compositing, i.e. what a
terminal would be sent), timed by wrapping the screen's compositor refresh. Without the cache file a
100-class, 10,000-image synthetic cache is written to a temporary folder (the CIFAR-100 reference size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import sys, time, json
t_start = time.time()
from engine.analysis.analysed_run import open_run
from tui.app import GradCamApp
t_import = time.time()
run = open_run(sys.argv[1])
t_load = time.time()

class Timed(GradCamApp):
    def on_ready(self):
        summary = self.query_one("#summary")  # the overview's data is on screen
        assert "Top-1" in str(summary.render())
        self.exit(json.dumps({"ready": time.time(), "cpu": time.process_time(), "start": t_start,
                              "import": t_import, "load": t_load, "torch_loaded": "torch" in sys.modules}))

print(Timed(run, out_dir=".").run(headless=True, size=(120, 40)))
"""


def ensure_cache(path: Path) -> Path:
    if path.exists():
        return path
    from engine.store import save_cache
    from tests.synthetic import synthetic_cache

    out = Path(tempfile.mkdtemp(prefix="bench_tui_")) / "cache.npz"
    print(f"{path} not found; writing a synthetic 100-class x 100-image cache to {out}")
    return save_cache(synthetic_cache(n_per_class=100, num_classes=100), out)


def time_launch(cache: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, str(cache)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise SystemExit(out.stderr)
        d = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(
            {
                "launch_to_first_screen_s": d["ready"] - t0,
                "cpu_s": d["cpu"],  # CPU time the child used up to the first screen (robust to a busy machine)
                "interpreter_s": d["start"] - t0,
                "imports_s": d["import"] - d["start"],
                "cache_load_s": d["load"] - d["import"],
                "compose_to_first_frame_s": d["ready"] - d["load"],
                "torch_loaded": d["torch_loaded"],
            }
        )
    best = min(runs, key=lambda r: r["launch_to_first_screen_s"])
    return {
        "median_s": statistics.median(r["launch_to_first_screen_s"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "best": best,
    }


async def _switches(cache_path: Path, n: int) -> dict:
    from engine.analysis.analysed_run import open_run
    from tui.app import GradCamApp
    from tui.views.class_view import ClassView

    app = GradCamApp(open_run(cache_path), out_dir=tempfile.mkdtemp())
    handler, to_screen, to_screen_cpu = [], [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        painted: list[tuple[float, float]] = []
        original = screen._compositor_refresh

        def stamped() -> None:  # the moment each screen update (layout + paint) is done
            original()
            painted.append((time.perf_counter(), time.process_time()))

        screen._compositor_refresh = stamped
        view = app.query_one(ClassView)
        for _ in range(n):  # the key handler alone
            t = time.perf_counter()
            view.action_next_class(1)
            handler.append(time.perf_counter() - t)
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(n):  # key press to the last screen update it caused (what the terminal shows)
            painted.clear()
            t, c = time.perf_counter(), time.process_time()
            await pilot.press("right_square_bracket")
            await app.workers.wait_for_complete()  # the figure, built in a thread
            await pilot.pause()
            to_screen.append(max(painted)[0] - t)
            to_screen_cpu.append(max(painted)[1] - c)
    ms = lambda xs: {"median_ms": 1e3 * statistics.median(xs), "max_ms": 1e3 * max(xs)}  # noqa: E731
    return {"handler": ms(handler), "key_to_screen": ms(to_screen), "key_to_screen_cpu": ms(to_screen_cpu)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=ROOT / "gradcam_results" / "cache.npz")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--switches", type=int, default=40)
    args = p.parse_args()
    cache = ensure_cache(args.cache)
    launch = time_launch(cache, args.repeats)
    switch = asyncio.run(_switches(cache, args.switches))
    print(json.dumps({"cache": str(cache), "launch": launch, "class_switch": switch}, indent=2))
    b = launch["best"]
    print(
        f"\nlaunch to first screen: median {launch['median_s']:.3f} s (CPU {launch['median_cpu_s']:.3f} s), "
        f"best {b['launch_to_first_screen_s']:.3f} s "
        f"(interpreter {b['interpreter_s']:.3f}, imports {b['imports_s']:.3f}, cache load {b['cache_load_s']:.3f}, "
        f"compose+first frame {b['compose_to_first_frame_s']:.3f}); torch imported: {b['torch_loaded']}"
    )
    print(
        f"class switch at 120x40: handler median {switch['handler']['median_ms']:.1f} ms "
        f"(max {switch['handler']['max_ms']:.1f}); key to repainted screen median "
        f"{switch['key_to_screen']['median_ms']:.1f} ms (max {switch['key_to_screen']['max_ms']:.1f}), "
        f"CPU median {switch['key_to_screen_cpu']['median_ms']:.1f} ms"
    )
    print("(wall times include waiting for the CPU when the machine is busy; CPU times do not)")


if __name__ == "__main__":
    main()
