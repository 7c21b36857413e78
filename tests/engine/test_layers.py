"""The import rules: each engine stage imports only the stages below it, and everything after the pass (the
store, the analysis, the figures, the reports) and the TUI run without torch. Checked statically
(import-linter's contracts in pyproject.toml) and at run time (what importing the modules puts in
sys.modules, which also sees imports done inside functions at module level and by third-party packages)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from tests.conftest import ROOT

TORCH_FREE = ["engine.store", "engine.analysis", "engine.figures", "engine.reports", "engine.console",
              "engine.config", "engine.errors"]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _import_all_and_list(packages: list[str], unwanted: tuple[str, ...]) -> str:
    """Python code that imports every module of `packages` and prints the unwanted ones it finds loaded."""
    return (
        "import importlib, pkgutil, sys\n"
        f"for name in {packages!r}:\n"
        "    mod = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(mod, '__path__', []), name + '.'):\n"
        "        if not info.name.endswith('__main__'):\n"
        "            importlib.import_module(info.name)\n"
        f"print(sorted(m for m in {unwanted!r} if m in sys.modules))\n"
    )


def test_import_linter_contracts_hold():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert any(c["type"] == "layers" for c in contracts)
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(contracts)} kept, 0 broken" in proc.stdout


def test_the_store_analysis_figures_and_reports_load_without_torch():
    proc = _run(_import_all_and_list(TORCH_FREE, ("torch", "torchvision", "textual", "tui")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


@pytest.mark.parametrize("module", ["engine", "engine.demo", "engine.sources", "engine.cli"])
def test_entry_modules_import_torch_only_when_it_is_needed(module):
    """`import engine` (what the TUI pulls in), the demo's registration and the data sources' detection, and
    the command line before a command runs."""
    proc = _run(f"import sys, {module}\nprint(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_loading_a_cache_imports_no_analysis(tmp_path, small_cache):
    """The store never imports the analysis: loading a cache costs reading it."""
    from engine.store import save_cache

    path = save_cache(small_cache, tmp_path / "cache.npz")
    code = (f"import sys\nfrom engine.store import load_cache\nload_cache({str(path)!r})\n"
            "print(sorted(m for m in sys.modules if m.startswith('engine.') and not m.startswith(('engine.store', "
            "'engine.errors'))))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_the_tui_never_imports_torch():
    proc = _run(_import_all_and_list(["tui"], ("torch", "torchvision", "engine.gradcam", "engine.models",
                                                "engine.sources", "engine.run", "engine.cli")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_tui_first_screen_needs_neither_torch_nor_pandas(tmp_path, small_cache):
    """Start-up pays only for what the first screen shows: pandas (~0.35 s) is imported after it is up."""
    from engine.store import save_cache

    path = save_cache(small_cache, tmp_path / "cache.npz")
    code = (
        "import sys\n"
        "import tui.app\n"
        "class Probe(tui.app.GradCamApp):\n"
        "    def on_ready(self):\n"
        "        self.loaded = sorted(m for m in ('pandas', 'torch', 'matplotlib') if m in sys.modules)\n"
        "        self.exit('Top-1' in self.export_screenshot())\n"
        "    def run(self, **kwargs):\n"
        "        print(super().run(headless=True, size=(120, 40)), self.loaded)\n"
        "tui.app.GradCamApp = Probe\n"
        "from tui.__main__ import main\n"
        f"main([{str(path)!r}, '--out', {str(tmp_path)!r}])\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True []", proc.stdout
