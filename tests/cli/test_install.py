"""The install's promises: on the viewer-only install (no torch, no torchvision) `report`, `compare` and the
TUI work and `run`/`demo` say in one sentence how to add the engine; `--version` on both commands, from the
one version in engine/__init__.py that pyproject.toml reads."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version

import pytest

import engine
from engine.store import save_cache
from tests.conftest import ROOT, Outcome

# importing either now raises ModuleNotFoundError, and importlib finds neither: a viewer-only install
WITHOUT_ENGINE = "import sys\nsys.modules['torch'] = sys.modules['torchvision'] = None\n"


def _batch_without_engine(*args: object) -> Outcome:
    code = WITHOUT_ENGINE + f"sys.argv = ['gradcam-batch', *{[str(a) for a in args]!r}]\nfrom engine.cli import main\nmain()\n"
    return Outcome.of(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                     timeout=300))


@pytest.mark.parametrize("command", [["run", "--data", "demo"], ["demo"]])
def test_run_and_demo_without_the_engine_say_how_to_install_it(tmp_path, command):
    outcome = _batch_without_engine(*command, "--out", tmp_path / "out")
    outcome.refused(f"`gradcam-batch {command[0]}` needs the engine (torch and torchvision), which is not installed",
                    'pip install "gradcam-tui[engine]"')
    assert not (tmp_path / "out").exists()


def test_report_and_compare_work_without_the_engine(tmp_path, small_cache):
    save_cache(small_cache, tmp_path / "old" / "cache.npz")
    save_cache(small_cache, tmp_path / "new" / "cache.npz")
    report = _batch_without_engine("report", "--cache", tmp_path / "new").completed()
    assert report.out.startswith("Wrote ") and list((tmp_path / "new").glob("class_*.png"))
    _batch_without_engine("compare", tmp_path / "old", tmp_path / "new", "--out", tmp_path / "cmp").completed()
    assert (tmp_path / "cmp" / "compare_summary.txt").exists()


def test_the_tui_opens_a_cache_without_the_engine(tmp_path, small_cache):
    path = save_cache(small_cache, tmp_path / "cache.npz")
    code = WITHOUT_ENGINE + (
        "import tui.app\n"
        "class FirstScreen(tui.app.GradCamApp):\n"
        "    def on_ready(self):\n"
        "        self.exit('Top-1' in self.export_screenshot())\n"
        "    def run(self, **kwargs):\n"
        "        print(super().run(headless=True, size=(120, 40)))\n"
        "tui.app.GradCamApp = FirstScreen\n"
        "from tui.__main__ import main\n"
        f"main([{str(path)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True", proc.stdout


def test_the_base_install_is_the_viewer_and_the_extras_bring_the_engine():
    """What `pip install gradcam-tui` (no torch), `[engine]` and `[test]` install, read from pyproject.toml;
    the base covers every third-party package the viewer's side imports (checked by tests/engine/test_layers.py
    and the viewer-only test above)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda spec: spec.split(">")[0].split("=")[0].split("[")[0].strip().lower()  # noqa: E731
    base = {name(d) for d in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not base & {"torch", "torchvision"}
    assert {"numpy", "pandas", "matplotlib", "pillow", "plotly", "rich", "typer", "textual"} <= base
    assert {name(d) for d in extras["engine"]} >= {"torch", "torchvision"}
    assert "gradcam-tui[engine]" in extras["test"]


def test_both_commands_print_the_one_version(cli, capsys):
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "engine.__version__"}
    out = cli("--version").completed().out.strip()
    assert out == f"gradcam-batch {engine.__version__} (torch {version('torch')}, torchvision {version('torchvision')})"
    from tui.__main__ import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"gradcam-tui {engine.__version__}"
