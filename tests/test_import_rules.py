"""One direction of flow: the TUI never imports torch, the engine never imports textual (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout


def test_cache_and_analysis_load_without_torch():
    code = (
        "import sys, engine.cache, engine.analysis, engine.cam_display\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'textual' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_tui_first_screen_needs_neither_torch_nor_pandas(tmp_path):
    """Start-up pays only for what the first screen shows: pandas (~0.35 s) is imported after it is up."""
    from engine.cache import save_cache
    from tests.synthetic import synthetic_cache

    path = save_cache(synthetic_cache(n_per_class=4, num_classes=6), tmp_path / "cache.npz")
    code = (
        "import sys\n"
        "from engine.cache import load_cache\n"
        "from tui.app import GradCamApp\n"
        "class Probe(GradCamApp):\n"
        "    def on_ready(self):\n"
        "        assert 'Top-1' in str(self.query_one('#summary').render())\n"
        "        self.exit(sorted(m for m in ('pandas', 'torch', 'matplotlib') if m in sys.modules))\n"
        f"print(Probe(load_cache({str(path)!r}), out_dir='.').run(headless=True, size=(120, 40)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
