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


# what the pass never needs (torchvision pulls in torch._dynamo, and through it FSDP: ~2 s) and what only the
# reports need (~1 s); torch.distributed's core comes with `import torch` itself, anything more only under torchrun
NOT_FOR_A_CIFAR_RUN = ("torchvision", "torch._dynamo", "torch.distributed.fsdp", "torch.distributed.tensor")
REPORT_STACK = ("engine.reports", "matplotlib", "plotly")


def test_a_cifar_resnet_run_loads_torchvision_never_and_the_reports_only_for_the_reports(tmp_path, small_world):
    """`gradcam-batch run` of a CIFAR ResNet (through the CLI, reports on): what sys.modules holds when the
    cache is saved (the pass and the analysis done, the reports not begun) and at the end."""
    args = small_world.run_args(tmp_path / "out")
    code = (
        "import sys\n"
        "import engine.run\n"
        "watched = {}\n"
        "real_save = engine.run._save\n"
        "def save(*a, **k):\n"
        f"    watched['before_reports'] = sorted(m for m in {REPORT_STACK + NOT_FOR_A_CIFAR_RUN!r} if m in sys.modules)\n"
        "    return real_save(*a, **k)\n"
        "engine.run._save = save\n"
        "from engine.cli import app\n"
        f"app({args!r}, standalone_mode=False)\n"
        f"print(watched['before_reports'], sorted(m for m in {REPORT_STACK + NOT_FOR_A_CIFAR_RUN!r} if m in sys.modules))\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch.distributed')))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-2] == f"[] {sorted(REPORT_STACK)}", proc.stdout  # the report stack came, for the reports only
    bare = _run("import sys, torch\nprint(sorted(m for m in sys.modules if m.startswith('torch.distributed')))")
    assert bare.returncode == 0, bare.stderr
    assert lines[-1] == bare.stdout.strip(), "a one-process run imported more of torch.distributed than torch does"
