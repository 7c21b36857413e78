"""Fixtures shared by every unit (tests/engine, tests/cli, tests/tui).

Factories, so each test builds the variant it needs:
- synthetic caches (`make_cache(n_per_class=, num_classes=, k=, seed=)`, tests/synthetic.py) and the
  AnalysedRun of one (`make_run(cache)`); `small_cache`, `small_run`, `small_cache_file` for the default one,
  and `written_reports`: its report files, written once;
- data on disk: `arrays_folder(folder, ...)`, `image_folder(root, ...)`;
- checkpoints: `resnet20_checkpoint(path, num_classes=, seed=)` (a random CIFAR ResNet-20 state_dict) and
  `code_running_pickle(target)` (an object whose unpickling creates `target`: the stand-in for any code a
  hostile pickle would run);
- `small_world`: an arrays folder of 20 16x16 images in 10 classes and a ResNet-20 checkpoint for it;
- a previous run's files (`previous_run(out)`, compared with files_in(out) after a refused or interrupted
  run), and rewrite_npz() to damage a cache file member by member;
- the command line: `cli(*args)` runs `gradcam-batch` in this process (typer's CliRunner, the same `app`
  the console script runs) and writes any exception that escaped the command into the captured stderr as
  the traceback Python would have printed; `batch(*args)` runs `python -m engine` as a real process;
- `cifar_run(depth)`: `gradcam-batch run` on the whole CIFAR-100 test split with a shared checkpoint, once
  per session; and need_shared()/SHARED for ../shared (skipped where it is absent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.synthetic import random_image_folder, synthetic_cache

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def need_shared() -> Path:
    """../shared, or skip with the reason."""
    if not (SHARED / "cifar100" / "test_images.npy").exists():
        pytest.skip("../shared (CIFAR-100 test split and checkpoints) is not present on this machine")
    return SHARED


# --- caches and runs -------------------------------------------------------------------------------------


def _analysed(cache):
    from engine.analysis.analysed_run import AnalysedRun

    return AnalysedRun(cache)


@pytest.fixture(scope="session")
def make_cache():
    """synthetic_cache(n_per_class=12, num_classes=8, k=5, seed=0): a RunCache built with numpy alone."""
    return synthetic_cache


@pytest.fixture(scope="session")
def make_run():
    """The AnalysedRun of a cache (or of synthetic_cache(**kwargs) when none is given)."""

    def make(cache=None, **kwargs):
        return _analysed(synthetic_cache(**kwargs) if cache is None else cache)

    return make


@pytest.fixture
def small_cache():
    return synthetic_cache()


@pytest.fixture
def small_run(small_cache):
    return _analysed(small_cache)


@pytest.fixture
def small_cache_file(tmp_path, small_cache) -> Path:
    from engine.store import save_cache

    return save_cache(small_cache, tmp_path / "cache.npz")


@pytest.fixture(scope="session")
def written_reports(tmp_path_factory):
    """(run, folder, paths): every report file of the default synthetic run, written once per session."""
    from engine.reports.writer import write_reports

    run = _analysed(synthetic_cache())
    out = tmp_path_factory.mktemp("reports") / "gradcam_results"
    return run, out, write_reports(run, out, progress=False)


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file directly in `folder`, by name, with its bytes."""
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def write_previous_run(out: Path) -> dict[str, bytes]:
    """A previous run's files in `out` (a real cache and report files, the first of them a PNG), as
    files_in(out) returns them: what an interrupted or refused run must leave as it was."""
    from engine.store import save_cache

    out.mkdir(parents=True, exist_ok=True)
    save_cache(synthetic_cache(n_per_class=2, num_classes=10), out / "cache.npz")
    (out / "per_class_accuracy.csv").write_text("class_id,previous\n")
    (out / "analysis_summary.txt").write_text("previous summary\n")
    (out / "class_000_c0.png").write_bytes(PNG_MAGIC + b"previous")
    return files_in(out)


def rewrite_npz(src: Path, dst: Path | None = None, **changes: Any) -> Path:
    """A copy of the cache file `src` (written over it without `dst`) with members replaced, added, or
    removed (a change to None)."""
    with np.load(src, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    members.update(changes)
    for name in [k for k, v in changes.items() if v is None]:
        members.pop(name)
    dst = dst or src
    np.savez(dst, **members)
    return dst


@pytest.fixture(scope="session")
def previous_run():
    return write_previous_run


# --- data on disk ----------------------------------------------------------------------------------------


def write_arrays_folder(folder: Path, n: int = 20, classes: list[str] | None = None, size: int = 16, seed: int = 0,
                        labels: np.ndarray | None = None, images: np.ndarray | None = None,
                        meta: dict[str, Any] | None = None) -> Path:
    """An arrays folder: n random uint8 images size x size (or `images`), labels 0, 1, 2, ... cycling over
    the classes (or `labels`), meta.json with the fine label names (c0..c9 by default) plus `meta`."""
    classes = list(classes) if classes is not None else [f"c{i}" for i in range(10)]
    folder.mkdir(parents=True, exist_ok=True)
    if images is None:
        images = np.random.default_rng(seed).integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    np.save(folder / "test_images.npy", images)
    np.save(folder / "test_fine_labels.npy", np.arange(len(images)) % len(classes) if labels is None else labels)
    (folder / "meta.json").write_text(json.dumps({"fine_label_names": classes, **(meta or {})}), encoding="utf-8")
    return folder


def write_image_folder(root: Path, classes: tuple[str, ...] = ("ant", "bee"), per_class: int = 2,
                       hw: tuple[int, int] = (16, 16), seed: int = 0,
                       specs: dict[str, list[tuple[int, int, str]]] | None = None) -> Path:
    """An ImageFolder: per_class random RGB PNGs of height x width hw in each class folder; or, with `specs`
    ({class: [(width, height, PIL mode), ...]}), flat images of those sizes and modes."""
    if specs is None:
        random_image_folder(root, classes, per_class, hw, seed)
        return root
    from PIL import Image

    for cls, images in specs.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k, (w, h, mode) in enumerate(images):
            colour = 40 * k if mode == "L" else (40 * k, 90, 160, 255)[: len(mode)]
            Image.new(mode, (w, h), colour).save(root / cls / f"{k}.png")
    return root


@pytest.fixture(scope="session")
def arrays_folder():
    return write_arrays_folder


@pytest.fixture(scope="session")
def image_folder():
    return write_image_folder


# --- checkpoints -----------------------------------------------------------------------------------------


def write_resnet20_checkpoint(path: Path, num_classes: int = 10, seed: int = 0) -> Path:
    """A randomly initialised CIFAR ResNet-20's state_dict, saved with torch.save."""
    import torch

    from engine.models.cifar_resnet import cifar_resnet

    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(cifar_resnet(20, num_classes).state_dict(), path)
    return path


class FileCreatingPickle:
    """Unpickling this creates the file `target`: the stand-in for any code a malicious pickle would run."""

    def __init__(self, target: Path | str) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


@pytest.fixture(scope="session")
def resnet20_checkpoint():
    return write_resnet20_checkpoint


@pytest.fixture(scope="session")
def code_running_pickle():
    return FileCreatingPickle


@dataclass(frozen=True)
class World:
    """A small data set and a checkpoint that fits it, in one folder."""

    base: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def checkpoint(self) -> Path:
        return self.base / "r20.pth"

    def run_args(self, out: Path, *extra: str, data: str | Path = "data", ckpt: str | Path = "r20.pth",
                 arch: str = "cifar_resnet20") -> list[str]:
        """`run` on a data set (a name in the world, or a path) with a checkpoint (likewise)."""
        return ["run", "--data", str(self.base / data), "--arch", arch, "--checkpoint", str(self.base / ckpt),
                "--out", str(out), *extra]


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> World:
    """data/: 20 random 16x16 images in 10 classes c0..c9; r20.pth: a random ResNet-20 for 10 classes."""
    base = tmp_path_factory.mktemp("world")
    write_arrays_folder(base / "data")
    write_resnet20_checkpoint(base / "r20.pth")
    return World(base)


# --- the one pass ------------------------------------------------------------------------------------------

CIFAR_MEAN, CIFAR_STD = (0.5070, 0.4865, 0.4409), (0.2673, 0.2564, 0.2761)


@pytest.fixture
def analyse_model(monkeypatch):
    """analyse_model(model, images, labels, layer=None, *, batch_size=16, cam="gradcam", autograd=False, ...)
    -> (AnalysedRun, what the run printed): the model over these images through engine.run.analyse (the
    probe, then the one pass driver, stream_pass), kept in memory. autograd=True takes the autograd path
    even where the model's head is linear (the probe's head is dropped)."""

    def analyse_model(model, images, labels, layer=None, *, batch_size=16, cam="gradcam", autograd=False,
                      num_classes=None, mean=CIFAR_MEAN, std=CIFAR_STD, device="cpu", tta="none"):
        import dataclasses
        import io

        from rich.console import Console

        import engine.run
        from engine.config import RunConfig
        from engine.sources.imageset import ImageSet

        if autograd:
            real = engine.run.probe_model
            monkeypatch.setattr(engine.run, "probe_model",
                                lambda *a, **k: dataclasses.replace(real(*a, **k), head=None))
        labels = np.asarray(labels, dtype=np.int64)
        n_cls = num_classes or int(labels.max()) + 1
        data = ImageSet(np.asarray(images), labels, [f"c{i}" for i in range(n_cls)], "test images")
        config = RunConfig(out=None, reports=False, device=device, batch_size=batch_size, target_layer=layer, cam=cam,
                           workers=0, tta=tta)
        text = io.StringIO()
        subject = engine.run.Subject(data, model, {"arch": type(model).__name__}, mean, std)
        run = engine.run.analyse(subject, config, console=Console(file=text, width=200))
        if autograd:
            monkeypatch.setattr(engine.run, "probe_model", real)
        return run, text.getvalue()

    return analyse_model


# --- the command line ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a command printed and returned."""

    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one 'Error: ...' sentence (asserting there is exactly one, and that it ends stderr)."""
        lines = [line for line in self.err.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1, self.err
        assert self.err.strip().endswith(lines[0]), self.err
        return lines[0]

    def refused(self, *expected: str) -> str:
        """Exit 2, one sentence, no traceback, and the sentence says each of `expected`; returns it."""
        assert "Traceback" not in self.err, self.err
        assert self.code == 2, self.err
        line = self.error_line
        for text in expected:
            assert text in line, line
        return line

    def completed(self) -> "Outcome":
        assert "Traceback" not in self.err, self.err
        assert self.code == 0, self.err
        return self

    @classmethod
    def of(cls, proc: subprocess.CompletedProcess) -> "Outcome":
        text = (lambda s: s) if isinstance(proc.stdout, str) else (lambda s: s.decode())
        return cls(proc.returncode, text(proc.stdout), text(proc.stderr))


def invoke(*args: Any) -> Outcome:
    """`gradcam-batch ARGS` in this process; an escaped exception is appended to stderr as the traceback
    Python would have printed."""
    from typer.testing import CliRunner

    from engine.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, err)


def run_process(*args: Any, timeout: float = 600, cwd: Path = ROOT, env: dict[str, str] | None = None,
                text: bool = True) -> subprocess.CompletedProcess:
    """`python -m engine ARGS` as a real process, its output captured (as bytes with text=False)."""
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=text,
                          timeout=timeout, cwd=cwd, env=env)


@pytest.fixture(scope="session")
def cli():
    return invoke


@pytest.fixture(scope="session")
def batch():
    return run_process


# --- the real CIFAR-100 runs -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cifar_run(tmp_path_factory):
    """cifar_run(depth) -> (process, output folder): `gradcam-batch run` with reports on all 10,000
    CIFAR-100 test images and the shared ResNet-`depth` checkpoint, run once per session."""
    done: dict[int, tuple[subprocess.CompletedProcess, Path]] = {}

    def get(depth: int) -> tuple[subprocess.CompletedProcess, Path]:
        if depth not in done:
            shared = need_shared()
            out = tmp_path_factory.mktemp(f"cifar_resnet{depth}")
            proc = run_process("run", "--data", shared / "cifar100", "--arch", f"cifar_resnet{depth}",
                               "--checkpoint", shared / "models" / f"chenyaofo_cifar100_resnet{depth}.pth",
                               "--out", out)
            done[depth] = (proc, out)
        return done[depth]

    return get
