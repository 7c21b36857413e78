"""How fast gradcam-tui is where people feel it: launch to first screen, a key within a slice, opening the
confusion view, opening a slice of about a thousand images, a class switch; at 80x24 and 160x50.

    python benchmarks/bench_tui.py [--cache gradcam_results/cache.npz] [--repeats 5] [--keys 30]

Launch is timed from before the child process starts (interpreter start, imports, cache load, compose)
to the app's Ready event (first frame composed), in a headless child, best and median of --repeats; the
child's CPU time up to then is reported too, since wall time on a shared machine includes waiting for a CPU.
Every other figure is key press to the end of the last screen update it causes, the figure included (its
panels are built in a thread, then layout, half-block rendering, compositing, i.e. what a terminal would
be sent), timed by wrapping the screen's compositor refresh: `j` in the Images view (all errors), `7` from
the Overview (the first time: the view is built and mounted; then: a tab switch), the all-errors slice
opened from the Overview (built cold each time), `]` in the Class view. Without the cache file a
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
SIZES = ((80, 24), (160, 50))

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

print(Timed(run, out_dir=".").run(headless=True, size=(int(sys.argv[2]), int(sys.argv[3]))))
"""


def ensure_cache(path: Path) -> Path:
    if path.exists():
        return path
    from engine.store import save_cache
    from tests.synthetic import synthetic_cache

    out = Path(tempfile.mkdtemp(prefix="bench_tui_")) / "cache.npz"
    print(f"{path} not found; writing a synthetic 100-class x 100-image cache to {out}")
    return save_cache(synthetic_cache(n_per_class=100, num_classes=100), out)


def time_launch(cache: Path, repeats: int, size: tuple[int, int]) -> dict:
    runs = []
    for _ in range(repeats):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, str(cache), *map(str, size)], capture_output=True,
                             text=True, cwd=ROOT)
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


def _ms(xs: list[float], cpu: list[float] | None = None) -> dict:
    """Median and max of wall times `xs`; with `cpu` (whose last len(xs) entries are theirs) the median CPU."""
    out = {"median_ms": 1e3 * statistics.median(xs), "max_ms": 1e3 * max(xs), "n": len(xs)}
    if cpu:
        out["cpu_median_ms"] = 1e3 * statistics.median(cpu[-len(xs):])
    return out


async def _interactions(cache_path: Path, n: int, size: tuple[int, int]) -> dict:
    from engine.analysis.analysed_run import open_run
    from tui.app import GradCamApp
    from tui.messages import OpenSlice
    from tui.slices import ERRORS, SliceSpec
    from tui.views.images import ImagesView

    app = GradCamApp(open_run(cache_path), out_dir=tempfile.mkdtemp())
    painted: list[float] = []
    cpu: list[float] = []
    out: dict = {}
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        original = screen._compositor_refresh

        def stamped() -> None:  # the moment each screen update (layout + paint) is done
            original()
            painted.append(time.perf_counter())

        screen._compositor_refresh = stamped

        async def timed(act) -> float | None:
            """Seconds from act() (a key press) to the last screen update it caused; the process's CPU
            seconds over the same span go to `cpu` (robust to a busy machine)."""
            await app.workers.wait_for_complete()
            await pilot.pause()
            painted.clear()
            t, c = time.perf_counter(), time.process_time()
            await act()
            await app.workers.wait_for_complete()  # the figure, built in a thread
            await pilot.pause()
            if not painted:
                return None
            cpu.append(time.process_time() - c)
            return max(painted) - t

        def keys(*k):
            return lambda: pilot.press(*k)

        await app.workers.wait_for_complete()  # pandas, imported after the first screen
        first = [await timed(keys("7"))]
        out["confusion_view_first_open"] = _ms([x for x in first if x is not None], cpu)
        again = []
        for _ in range(max(n // 5, 3)):
            await pilot.press("1")
            again.append(await timed(keys("7")))
        out["confusion_view_reopen"] = _ms([x for x in again if x is not None], cpu)

        await pilot.press("1")
        opened, size_of_slice = [], 0
        for _ in range(max(n // 5, 3)):
            await pilot.press("1")
            await app.workers.wait_for_complete()
            try:
                app.query_one(ImagesView).built.clear()  # built cold each time
            except Exception:  # noqa: BLE001 - not mounted yet: the first open builds it
                pass

            async def open_errors() -> None:
                app.post_message(OpenSlice(SliceSpec(ERRORS)))
                await pilot.pause()

            opened.append(await timed(open_errors))
            size_of_slice = len(app.query_one(ImagesView).slice)
        out["open_slice"] = {**_ms([x for x in opened if x is not None], cpu), "images": size_of_slice}

        moves = [await timed(keys("j")) for _ in range(n)]
        out["move_in_slice"] = _ms([x for x in moves if x is not None], cpu)

        await pilot.press("3")
        switches = [await timed(keys("right_square_bracket")) for _ in range(n)]
        out["class_switch"] = _ms([x for x in switches if x is not None], cpu)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=ROOT / "gradcam_results" / "cache.npz")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--keys", type=int, default=30)
    args = p.parse_args()
    cache = ensure_cache(args.cache)
    report: dict = {"cache": str(cache)}
    for size in SIZES:
        name = f"{size[0]}x{size[1]}"
        report[name] = {"launch": time_launch(cache, args.repeats, size),
                        **asyncio.run(_interactions(cache, args.keys, size))}
    print(json.dumps(report, indent=2))
    print(f"\n{cache}")
    for size in SIZES:
        name = f"{size[0]}x{size[1]}"
        r = report[name]
        b = r["launch"]["best"]
        print(f"{name}: launch to first screen median {r['launch']['median_s']:.3f} s "
              f"(CPU {r['launch']['median_cpu_s']:.3f} s, best {b['launch_to_first_screen_s']:.3f} s: interpreter "
              f"{b['interpreter_s']:.3f}, imports {b['imports_s']:.3f}, cache load {b['cache_load_s']:.3f}, compose "
              f"{b['compose_to_first_frame_s']:.3f}; torch imported: {b['torch_loaded']})")
        for key, what in (("move_in_slice", "j in a slice"), ("confusion_view_first_open", "confusion view, first"),
                          ("confusion_view_reopen", "confusion view, again"),
                          ("open_slice", f"open a slice of {r['open_slice']['images']:,} images"),
                          ("class_switch", "] next class")):
            print(f"  key to repainted screen, {what}: median {r[key]['median_ms']:.1f} ms "
                  f"(max {r[key]['max_ms']:.1f}, n={r[key]['n']}; "
                  f"CPU median {r[key]['cpu_median_ms']:.1f} ms)")
    print("(wall times include waiting for the CPU when the machine is busy)")


if __name__ == "__main__":
    main()
