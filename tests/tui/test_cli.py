"""`gradcam-tui` as a command: a bad cache is one sentence and exit 2 (never a traceback), the defaults,
two runs that cannot be compared, and the app never importing torch."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.analysis.analysed_run import open_run
from engine.store import save_cache
from tests.synthetic import synthetic_cache
from tests.tui.helpers import ROOT, SIZE, least_accurate
from tui.app import GradCamApp


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_missing_cache_exits_2_with_the_message_and_no_traceback(tmp_path):
    out = _cli(str(tmp_path / "nothing.npz"))
    assert out.returncode == 2
    assert "No cache at" in out.stderr and "gradcam-batch" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_wrong_version_and_garbage_caches_exit_2(tmp_path):
    old = tmp_path / "old.npz"
    np.savez(old, schema_version=np.array(999))
    out = _cli(str(old))
    assert out.returncode == 2 and "schema version 999" in out.stderr and "Traceback" not in out.stderr
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    out = _cli(str(junk))
    assert out.returncode == 2 and "gradcam-batch" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("damage", ["no images member", "truncated member", "manifest not JSON", "plain folder"])
def test_damaged_cache_folders_exit_2_with_one_sentence(tmp_path, damage):
    folder = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path / "cache")
    if damage == "no images member":
        (folder / "images.npy").unlink()
    elif damage == "truncated member":
        data = (folder / "probs.npy").read_bytes()
        (folder / "probs.npy").write_bytes(data[: len(data) - 7])
    elif damage == "manifest not JSON":
        (folder / "manifest.json").write_text("{not json")
    else:
        folder = tmp_path / "plain"
        folder.mkdir()
    out = _cli(str(folder))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "gradcam-batch" in lines[0], out.stderr


def test_a_hostile_path_is_refused_escaped(tmp_path):
    out = _cli(str(tmp_path / "no\x1b[2Jsuch.npz"))
    assert out.returncode == 2 and "\x1b" not in out.stderr and "no\\x1b[2Jsuch" in out.stderr


def test_console_script_is_the_same_entry_point(tmp_path):
    script = Path(sys.executable).with_name("gradcam-tui")
    if not script.exists():
        pytest.skip("gradcam-tui console script is not installed in this environment")
    out = subprocess.run([str(script), str(tmp_path / "x.npz")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "No cache at" in out.stderr and "Traceback" not in out.stderr


def test_defaults_read_gradcam_results_and_write_next_to_the_cache():
    from tui.__main__ import parse_args

    args = parse_args([])
    assert Path(args.cache) == Path("gradcam_results") / "cache.npz" and args.out is None
    assert parse_args(["c.npz", "--out", "figs"]).out == Path("figs")


def test_two_incomparable_caches_exit_2_with_one_sentence(tmp_path, small_cache):
    a = save_cache(small_cache, tmp_path / "a.npz")
    b = save_cache(synthetic_cache(n_per_class=10), tmp_path / "b.npz")
    out = _cli(str(a), str(b))
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "not on the same test set" in lines[0]
    out = _cli(str(a), str(tmp_path / "missing.npz"))
    assert out.returncode == 2 and "No cache at" in out.stderr and "Traceback" not in out.stderr


def test_main_opens_both_runs_and_the_app_compares_them(tmp_path, small_cache, monkeypatch):
    """`gradcam-tui OLD NEW` hands the app the newer run to browse and the older to compare with."""
    from tests.tui.helpers import better_cache, opened_by_the_tui

    old = save_cache(small_cache, tmp_path / "old.npz")
    new = save_cache(better_cache(small_cache), tmp_path / "new" / "cache.npz")
    opened = opened_by_the_tui([old, tmp_path / "new"], monkeypatch)
    assert opened["code"] == 0
    assert opened["ran"] and opened["cache_path"] == new and opened["out_dir"] == new.parent
    assert np.array_equal(opened["run"].cache.probs, better_cache(small_cache).probs)
    assert np.array_equal(opened["old_run"].cache.probs, small_cache.probs) and opened["old_path"] == old


CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from tui.__main__ import main  # the real entry point's imports
    from engine.analysis.analysed_run import open_run
    from tui.app import GradCamApp

    async def go():
        app = GradCamApp(open_run(sys.argv[1]), out_dir=sys.argv[2], old_run=open_run(sys.argv[1]))
        async with app.run_test(size=(100, 30)) as pilot:
            for key in ["2", "enter", "3", "j", "t", "g", "4", "j", "5", "6", "enter", "7", "question_mark",
                        "escape", "1"]:
                await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()

    asyncio.run(go())
    bad = ["torch", "torchvision", "engine.models", "engine.gradcam", "engine.run", "engine.sources"]
    print(json.dumps({m: m in sys.modules for m in bad}))
    """
)


def test_the_app_never_imports_torch(small_cache_file, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(small_cache_file), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any(loaded.values()), f"the TUI imported {[m for m, v in loaded.items() if v]}"


def test_cache_on_disk_round_trips_into_the_app(small_cache, tmp_path):
    """The app is started from a saved cache the way the command line does it."""
    path = save_cache(small_cache, tmp_path / "c.npz")

    async def go():
        run = open_run(path)
        app = GradCamApp(run, out_dir=path.parent, cache_path=path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await pilot.pause()
            assert app.out_dir == path.parent
            assert app.query_one("ClassView").class_id == least_accurate(run)

    asyncio.run(go())
