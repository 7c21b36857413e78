"""Hostile inputs and faults for `gradcam-batch` (issue #7): each case is one clear sentence on stderr and
exit code 2 (or a completed run with a warning), never a traceback, never a lost or half-written file.

Most cases run the real command line in this process (typer's CliRunner: the same `app` the console script
runs, stdout and stderr captured). An exception that escaped the command would reach the user as Python's
traceback, so `cli()` writes exactly that traceback into the captured stderr, and every test asserts
"Traceback" is not in it. Interruptions are real signals sent to a real `python -m engine run` process.
Faults the machine cannot produce on demand (a full or read-only disk, CUDA out of memory) are injected at
the system call or the model; where this machine allows mounting a small tmpfs, the full and read-only
disks are also real.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

import engine.atomic as atomic_mod
import engine.output_folder as output_folder_mod
from engine.cache import CacheError, RunCache, load_cache, save_cache
from engine.cifar_resnet import cifar_resnet
from engine.errors import UserError
from engine.output_folder import check_output_folder, estimate_run_bytes
from tests.synthetic import synthetic_cache, temporaries

ROOT = Path(__file__).resolve().parents[1]
N_CLASSES = 10
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- the command line, in this process --------------------------------------------------------------------


@dataclass
class Outcome:
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


def cli(*args: str) -> Outcome:
    """`gradcam-batch ARGS` in this process; an escaped exception is appended to stderr as the traceback
    Python would have printed."""
    from engine.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, err)


def refused(outcome: Outcome, *expected: str) -> str:
    """Exit 2, one sentence, no traceback, and the sentence says what was expected."""
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code == 2, outcome.err
    line = outcome.error_line
    for text in expected:
        assert text in line, line
    return line


def completed(outcome: Outcome) -> Outcome:
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code == 0, outcome.err
    return outcome


# --- a small world: data sets and checkpoints ------------------------------------------------------------


def arrays_folder(folder: Path, n: int = 20, classes: list[str] | None = None, size: int = 16, seed: int = 0,
                  labels: np.ndarray | None = None, images: np.ndarray | None = None) -> Path:
    classes = classes or [f"c{i}" for i in range(N_CLASSES)]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if images is None:
        images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    np.save(folder / "test_images.npy", images)
    np.save(folder / "test_fine_labels.npy", np.arange(n) % len(classes) if labels is None else labels)
    (folder / "meta.json").write_text(json.dumps({"fine_label_names": classes}), encoding="utf-8")
    return folder


class Evil:
    """Unpickling this creates a file: the stand-in for any code a malicious checkpoint would run."""

    target = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    arrays_folder(base / "data")
    arrays_folder(base / "data100", n=100, classes=[f"k{i}" for i in range(100)])
    torch.manual_seed(0)
    net = cifar_resnet(20, N_CLASSES)
    torch.save(net.state_dict(), base / "r20.pth")
    good = (base / "r20.pth").read_bytes()
    (base / "truncated.pth").write_bytes(good[: len(good) // 2])
    (base / "empty.pth").write_bytes(b"")
    (base / "not_a_checkpoint.pth").write_text("hello, I am a text file\n")
    nan = {k: v.clone() for k, v in net.state_dict().items()}
    nan["fc.weight"][3, 5] = float("nan")
    torch.save(nan, base / "r20_nan.pth")
    Evil.target = str(base / "PWNED")
    torch.save({"state_dict": Evil()}, base / "evil.pth")
    return base


def run_args(world: Path, out: Path, *extra: str, data: str | Path = "data", ckpt: str = "r20.pth",
             arch: str = "cifar_resnet20") -> list[str]:
    """`run` on a data set (a name in the world, or a path) with a checkpoint of the world."""
    return ["run", "--data", str(world / data), "--arch", arch, "--checkpoint", str(world / ckpt),
            "--out", str(out), *extra]


# --- checkpoints ------------------------------------------------------------------------------------------


def test_code_running_pickle_is_refused_and_its_code_never_runs(world, tmp_path):
    line = refused(cli(*run_args(world, tmp_path / "out", ckpt="evil.pth")), "could run code",
                   "--trust-checkpoint")
    assert "evil.pth" in line
    assert not (world / "PWNED").exists()
    # the payload is live: the user's explicit trust is what runs it (so the assertion above can fail)
    refused(cli(*run_args(world, tmp_path / "out", "--trust-checkpoint", ckpt="evil.pth")), "holds no state_dict")
    assert (world / "PWNED").exists()
    (world / "PWNED").unlink()


@pytest.mark.parametrize(
    "ckpt, expected",
    [("empty.pth", "is empty, not a PyTorch file"),
     ("truncated.pth", "truncated or not a PyTorch file"),
     ("not_a_checkpoint.pth", "could not be read"),
     ("absent.pth", "does not exist")],
    ids=["empty", "truncated", "not-a-checkpoint", "absent"],
)
def test_unreadable_checkpoints(world, tmp_path, ckpt, expected):
    refused(cli(*run_args(world, tmp_path / "out", ckpt=ckpt)), f"Checkpoint {world / ckpt}", expected)


def test_a_state_dict_for_another_architecture_names_the_keys(world, tmp_path):
    line = refused(cli(*run_args(world, tmp_path / "out", arch="resnet18")),
                   "does not fit --arch resnet18", "missing keys", "unexpected keys")
    assert "layer4" in line and "layer1.2" in line  # the keys themselves are named


def test_a_10_class_head_on_100_class_data(world, tmp_path):
    refused(cli(*run_args(world, tmp_path / "out", data="data100")),
            "The checkpoint's classifier has 10 classes but the data has 100.")


def test_nan_weights_warn_with_the_number_of_images_affected(world, tmp_path):
    outcome = completed(cli(*run_args(world, tmp_path, "--no-reports", ckpt="r20_nan.pth")))
    assert "non-finite logits (NaN/inf) for 20 of 20 images" in outcome.err
    cache = load_cache(tmp_path / "cache.npz")
    assert cache.meta["nonfinite_images"] == 20 and np.isfinite(cache.probs).all()
    # a healthy checkpoint gives no such warning (the warning is about the weights, not always printed)
    assert "non-finite" not in completed(cli(*run_args(world, tmp_path / "ok", "--no-reports"))).err


# --- data -------------------------------------------------------------------------------------------------


def test_missing_empty_and_file_data_paths(world, tmp_path):
    out = tmp_path / "out"
    refused(cli(*run_args(world, out, data=tmp_path / "nope")), f"No data at {tmp_path / 'nope'}",
            "expected an arrays folder")
    (tmp_path / "empty").mkdir()
    refused(cli(*run_args(world, out, data=tmp_path / "empty")), "Found no data set in", "ImageFolder")
    (tmp_path / "file.npy").write_bytes(b"x")
    refused(cli(*run_args(world, out, data=tmp_path / "file.npy")), "is a file")


def _image_folder(root: Path, sizes: dict[str, list[tuple[int, int, str]]]) -> Path:
    for cls, specs in sizes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k, (w, h, mode) in enumerate(specs):
            colour = (40 * k, 90, 160, 255)[: len(mode)] if mode != "L" else 40 * k
            Image.new(mode, (w, h), colour).save(root / cls / f"{k}.png")
    return root


def test_image_folder_of_mixed_sizes_is_refused_unless_resized_explicitly(world, tmp_path):
    folder = _image_folder(tmp_path / "imgs", {f"c{i}": [(16, 16, "RGB"), (24, 20, "RGB")] for i in range(N_CLASSES)})
    line = refused(cli("run", "--data", str(folder), "--arch", "cifar_resnet20", "--checkpoint", str(world / "r20.pth"),
                       "--out", str(tmp_path / "out"), "--workers", "0"), "is 24x20 but the first image is 16x16",
                   "--image-size")
    assert not (tmp_path / "out" / "cache.npz").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no temporary cache left behind
    outcome = completed(cli("run", "--data", str(folder), "--arch", "cifar_resnet20", "--checkpoint",
                            str(world / "r20.pth"), "--out", str(tmp_path / "out"), "--image-size", "16",
                            "--no-reports", "--workers", "0"))
    assert "Predictions collected for 20 images" in outcome.out and line


def test_grey_and_rgba_images_are_converted_to_rgb(world, tmp_path):
    folder = _image_folder(tmp_path / "imgs", {f"c{i}": [(16, 16, "L"), (16, 16, "RGBA"), (16, 16, "P")]
                                               for i in range(N_CLASSES)})
    completed(cli("run", "--data", str(folder), "--arch", "cifar_resnet20", "--checkpoint", str(world / "r20.pth"),
                  "--out", str(tmp_path), "--no-reports", "--workers", "0"))
    cache = load_cache(tmp_path / "cache.npz")
    assert cache.images.shape == (30, 16, 16, 3)
    grey = cache.images[0]
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


@pytest.mark.parametrize("shape", [(20, 16, 16), (20, 16, 16, 4), (20, 16, 16, 1)], ids=["grey", "rgba", "1-channel"])
def test_arrays_of_another_channel_count_are_refused(world, tmp_path, shape):
    arrays_folder(tmp_path / "d", images=np.zeros(shape, dtype=np.uint8))
    refused(cli(*run_args(world, tmp_path / "out", data=tmp_path / "d")),
            f"holds uint8 {shape}; expected uint8 N x H x W x 3 (RGB)")


def test_images_the_model_cannot_take_are_refused_before_the_pass(world, tmp_path):
    net = tmp_path / "fixed.py"
    net.write_text(textwrap.dedent("""
        from torch import nn
        def build(num_classes):  # a flatten + linear head: only 32x32 inputs fit
            return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 32 * 32, num_classes))
    """))
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixed_net", net)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.build(N_CLASSES).state_dict(), tmp_path / "fixed.pth")
    refused(cli("run", "--data", str(world / "data"), "--model", f"{net}:build", "--checkpoint",
                str(tmp_path / "fixed.pth"), "--out", str(tmp_path / "out")),
            "The model cannot take these 16x16 images")


def test_labels_out_of_range(world, tmp_path):
    arrays_folder(tmp_path / "d", labels=np.array([*(np.arange(19) % N_CLASSES), N_CLASSES]))
    refused(cli("run", "--data", str(tmp_path / "d"), "--arch", "cifar_resnet20", "--checkpoint",
                str(world / "r20.pth"), "--out", str(tmp_path / "out")),
            "range over 0..10, but there are 10 class names")


def test_a_class_with_no_test_images_runs_and_says_so(world, tmp_path):
    arrays_folder(tmp_path / "d", labels=np.arange(20) % 9)  # class 9 (c9) has no test image
    outcome = completed(cli("run", "--data", str(tmp_path / "d"), "--arch", "cifar_resnet20", "--checkpoint",
                            str(world / "r20.pth"), "--out", str(tmp_path / "out")))
    assert "Predictions collected for 20 images" in outcome.out
    csv = (tmp_path / "out" / "per_class_accuracy.csv").read_text(encoding="utf-8").splitlines()
    row = next(line for line in csv if line.startswith("9,"))
    assert ",0,0," in row  # support 0, correct 0
    assert (tmp_path / "out" / "class_009_c9.png").read_bytes().startswith(PNG_MAGIC)


HOSTILE_NAMES = ["../../escape", "a/b", "..", "with spaces", "ünï cødé 猫", "<script>alert(1)</script>",
                 "[/]", "/etc/passwd", "C:\\evil", "x" * 300]


def test_hostile_class_names_stay_inside_the_output_folder_and_are_escaped(world, tmp_path):
    arrays_folder(tmp_path / "d", classes=HOSTILE_NAMES)
    out = tmp_path / "deep" / "out"
    completed(cli("run", "--data", str(tmp_path / "d"), "--arch", "cifar_resnet20", "--checkpoint",
                  str(world / "r20.pth"), "--out", str(out)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "deep"]  # nothing written beside
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["out"]
    assert all(p.is_file() for p in out.iterdir())  # no sub-folders made from names with '/'
    assert len(list(out.glob("class_*.png"))) == len(HOSTILE_NAMES)
    assert all(re.fullmatch(r"class_\d{3}_[A-Za-z0-9][A-Za-z0-9_-]*\.png", p.name) for p in out.glob("class_*.png"))
    assert (out / "class_005_script_alert_1_script.png").is_file()
    html = (out / "per_class_accuracy_interactive.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert load_cache(out / "cache.npz").class_names == HOSTILE_NAMES  # the names themselves are kept


# --- the output folder ------------------------------------------------------------------------------------


def _no_work(monkeypatch):
    """Fail the test if the command gets as far as reading the data (the long work)."""
    import engine.data

    def never(*a, **k):
        raise AssertionError("the data was loaded although the output folder is unusable")

    monkeypatch.setattr(engine.data, "load_data", never)


def test_output_folder_that_is_a_file(world, tmp_path, monkeypatch):
    _no_work(monkeypatch)
    target = tmp_path / "results.txt"
    target.write_text("the user's file")
    refused(cli(*run_args(world, target)), f"The output folder {target} is a file; choose another --out.")
    assert target.read_text() == "the user's file"
    refused(cli(*run_args(world, target / "sub")), f"Cannot create the output folder {target / 'sub'}",
            f"{target} is a file")
    assert target.read_text() == "the user's file"


@pytest.mark.parametrize(
    "code, expected",
    [(errno.EROFS, "it is on a read-only file system"), (errno.EACCES, "permission denied"),
     (errno.ENOSPC, "no space left on the device"), (errno.EDQUOT, "no space left on the device")],
    ids=["read-only", "permission", "disk-full", "quota"],
)
def test_unwritable_output_folder_is_refused_before_the_work(world, tmp_path, monkeypatch, code, expected):
    """As root, chmod does not stop writes; the refusals the file system would give are injected instead,
    at the write-test's first write (mkstemp for EROFS/EACCES, the probe write for a full disk)."""
    _no_work(monkeypatch)
    real_mkstemp, real_write = output_folder_mod.tempfile.mkstemp, output_folder_mod.os.write

    def mkstemp(*a, **k):
        if code in (errno.EROFS, errno.EACCES):
            raise OSError(code, os.strerror(code))
        return real_mkstemp(*a, **k)

    def write(fd, data):
        if code in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(output_folder_mod.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(output_folder_mod.os, "write", write)
    out = tmp_path / "out"
    out.mkdir()
    (out / "cache.npz").write_bytes(b"previous")
    refused(cli(*run_args(world, out)), f"Cannot write to the output folder {out}: {expected}.")
    assert sorted(p.name for p in out.iterdir()) == ["cache.npz"]  # the probe file is gone too
    assert (out / "cache.npz").read_bytes() == b"previous"


def test_too_little_free_space_for_the_estimate(tmp_path, monkeypatch):
    needed = estimate_run_bytes(10_000, 32, 32, 100)
    assert 80e6 < needed < 100e6  # CIFAR-100: 55 MB cache + 31 MB reports measured
    free = shutil.disk_usage(tmp_path).free
    check_output_folder(tmp_path, needed_bytes=min(needed, free // 2))  # room: no complaint
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=50 * 1024 * 1024))
    with pytest.raises(UserError, match=r"has 50.0 MiB free but this run writes about 8\d\.\d MiB; free some space"):
        check_output_folder(tmp_path, needed_bytes=needed)


def test_run_refuses_a_folder_without_room_for_its_files_before_the_pass(world, tmp_path, monkeypatch):
    """`run` checks the free space against its own estimate before the forward pass starts."""
    import engine.pipeline

    def never(*a, **k):
        raise AssertionError("the pass started although the output folder has no room")

    monkeypatch.setattr(engine.pipeline, "stream_pass", never)
    out = tmp_path / "out"
    out.mkdir()
    usage = shutil.disk_usage(out)
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=64 * 1024))
    refused(cli(*run_args(world, out)), f"{out} has 64.0 KiB free but this run writes about", "free some space")
    assert list(out.iterdir()) == []


def _previous_run(out: Path) -> dict[str, bytes]:
    """A previous run's files in `out`: a real cache and report files; returns their bytes."""
    out.mkdir(parents=True, exist_ok=True)
    save_cache(synthetic_cache(n_per_class=2, num_classes=N_CLASSES), out / "cache.npz")
    (out / "per_class_accuracy.csv").write_text("class_id,previous\n")
    (out / "analysis_summary.txt").write_text("previous summary\n")
    (out / "class_000_c0.png").write_bytes(PNG_MAGIC + b"previous")
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir()}


def test_disk_full_while_writing_the_cache_keeps_the_previous_one(world, tmp_path, monkeypatch):
    import engine.cache as cache_mod

    out = tmp_path / "out"
    before = _previous_run(out)
    real_savez = cache_mod.np.savez

    def savez_until_full(fh, **members):
        fh.write(b"PK\x03\x04 the first bytes of a zip")  # a half-written cache ...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... then the disk is full

    monkeypatch.setattr(cache_mod.np, "savez", savez_until_full)
    line = refused(cli(*run_args(world, out)), f"Could not write {out / 'cache.npz'}: No space left on device",
                   "the previous file is unchanged")
    assert _files(out) == before  # nothing replaced, no temporary file, no half-written file
    monkeypatch.setattr(cache_mod.np, "savez", real_savez)
    assert line


def test_disk_full_while_writing_the_reports_leaves_no_half_file(world, tmp_path, monkeypatch):
    """The disk fills after a few report files: those are complete, the rest are the previous ones."""
    import engine.reports.writer as writer

    out = tmp_path / "out"
    completed(cli(*run_args(world, out, "--no-reports")))
    before = {**_previous_run(out), "cache.npz": (out / "cache.npz").read_bytes()}
    (out / "cache.npz").write_bytes(before["cache.npz"])
    calls = {"n": 0}
    real_fsync = atomic_mod.os.fsync

    def fsync_until_full(fd):  # the output folder's write probe, three report files, then a full disk
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(writer, "default_workers", lambda: 1)  # every file in this process, where the fault is
    monkeypatch.setattr(atomic_mod.os, "fsync", fsync_until_full)
    refused(cli("report", "--cache", str(out / "cache.npz")), "Could not write", "No space left on device")
    after = _files(out)
    assert not temporaries(after), after.keys()  # no temporary files
    assert after["cache.npz"] == before["cache.npz"]
    replaced = [n for n in after if after[n] != before.get(n)]
    assert len(replaced) == 3  # the three complete writes; everything else is as it was
    for name in replaced:
        if name.endswith(".png"):
            with Image.open(out / name) as im:
                im.load()
        else:
            assert after[name].endswith(b"\n") or name.endswith(".html")


# --- real file systems: a full tmpfs and a read-only bind mount (root with mount rights only) ------------


@pytest.fixture
def mounted(tmp_path):
    made: list[Path] = []

    def mount(kind: str, size_kib: int = 0) -> Path:
        point = tmp_path / f"mnt{len(made)}"
        point.mkdir()
        if kind == "tmpfs":
            cmd = ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(point)]
        else:
            (tmp_path / "ro_src").mkdir(exist_ok=True)
            (tmp_path / "ro_src" / "cache.npz").write_bytes(b"previous")
            cmd = ["mount", "--bind", "-o", "ro", str(tmp_path / "ro_src"), str(point)]
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a test file system needs root")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"this machine does not allow mounting a test file system: {proc.stderr.strip()}")
        made.append(point)
        if kind != "tmpfs" and os.access(point, os.W_OK) and _writable(point):
            pytest.skip("the read-only bind mount is writable here")
        return point

    yield mount
    for point in reversed(made):
        subprocess.run(["umount", str(point)], capture_output=True)
        if os.path.ismount(point):
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_bytes(b"")
        (folder / ".probe").unlink()
        return True
    except OSError:
        return False


def test_real_read_only_output_folder(world, mounted, monkeypatch):
    _no_work(monkeypatch)
    out = mounted("ro")
    refused(cli(*run_args(world, out)), f"Cannot write to the output folder {out}: it is on a read-only file system.")
    assert (out / "cache.npz").read_bytes() == b"previous"


def test_real_full_disk_is_refused_before_the_pass(world, mounted, tmp_path):
    """A real 1 MiB file system and a run whose cache needs about 1.9 MB: refused up front by the free-space
    estimate (a write that fails later anyway is covered by the disk-full tests above)."""
    out = mounted("tmpfs", size_kib=1024)
    (out / "cache.npz").write_bytes(b"previous" * 1000)
    arrays_folder(tmp_path / "big", n=400, size=32)  # a cache of about 1.9 MB: the probe fits, the cache does not
    line = refused(cli("run", "--data", str(tmp_path / "big"), "--arch", "cifar_resnet20", "--checkpoint",
                       str(world / "r20.pth"), "--out", str(out), "--no-reports"),
                   f"The output folder {out} has", "free but this run writes about", "free some space")
    assert sorted(p.name for p in out.iterdir()) == ["cache.npz"] and line
    assert (out / "cache.npz").read_bytes() == b"previous" * 1000


# --- resources --------------------------------------------------------------------------------------------


def test_cuda_out_of_memory_backs_off_the_batch_size_and_says_so(world, tmp_path):
    """A model that runs out of (simulated) CUDA memory above 4 images per batch: the run halves the batch
    until it fits, says so, and its predictions equal an unconstrained run's."""
    src = tmp_path / "oom_net.py"
    src.write_text(textwrap.dedent("""
        import torch
        from engine.cifar_resnet import CifarResNet, BasicBlock, cifar_resnet

        def build(num_classes):
            net = cifar_resnet(20, num_classes)
            inner = net.forward
            def forward(x):
                if x.shape[0] > 4:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
                return inner(x)
            net.forward = forward
            return net
    """))
    outcome = completed(cli("run", "--data", str(world / "data"), "--model", f"{src}:build", "--checkpoint",
                            str(world / "r20.pth"), "--out", str(tmp_path / "oom"), "--batch-size", "16", "--no-reports"))
    assert "CUDA out of memory: batch size lowered to 8" in outcome.err
    assert "CUDA out of memory: batch size lowered to 4" in outcome.err
    oom = load_cache(tmp_path / "oom" / "cache.npz")
    assert oom.meta["batch_size"] == 4
    completed(cli("run", "--data", str(world / "data"), "--model", f"{src.with_name('plain.py')}:build",
                  "--checkpoint", str(world / "r20.pth"), "--out", str(tmp_path / "plain"), "--no-reports")
              if src.with_name("plain.py").write_text("from engine.cifar_resnet import cifar_resnet\n"
                                                      "def build(num_classes):\n    return cifar_resnet(20, num_classes)\n")
              else None)
    plain = load_cache(tmp_path / "plain" / "cache.npz")
    np.testing.assert_array_equal(oom.topk_classes, plain.topk_classes)
    np.testing.assert_allclose(oom.probs, plain.probs, atol=1e-5)


# --- interruption: real signals to a real process ---------------------------------------------------------

PAUSING_NET = textwrap.dedent("""
    import os, time
    from pathlib import Path
    from engine.cifar_resnet import cifar_resnet

    def pause(point):
        if os.environ.get("HOSTILE_PAUSE_AT") == point:
            Path(os.environ["HOSTILE_MARKER"]).write_text(point)
            time.sleep(120)

    def build(num_classes):
        pause("model")  # while the model is being built and loaded
        net = cifar_resnet(20, num_classes)
        inner, batches = net.forward, [0]
        def forward(x):
            if x.shape[0] > 2:  # not the 2-image probes
                batches[0] += 1
                if batches[0] == 2:
                    pause("forward")  # inside the forward pass, one batch done
            return inner(x)
        net.forward = forward
        return net
""")

# The real entry point (engine.cli.main, with its SIGTERM handler), with a pause at the two points no user
# code reaches: the new cache complete in its temporary file but not yet renamed, and the reports phase.
CHILD = textwrap.dedent("""
    import os, sys, time
    from contextlib import contextmanager
    from pathlib import Path

    point, marker, main_pid = os.environ["HOSTILE_PAUSE_AT"], Path(os.environ["HOSTILE_MARKER"]), os.getpid()

    def pause():
        marker.write_text(point)
        time.sleep(120)

    if point in ("cache", "reports"):
        import engine.atomic, engine.cache
        real = engine.atomic.atomic_path
        module = engine.cache if point == "cache" else engine.atomic

        @contextmanager
        def paused(target):
            with real(target) as tmp:
                yield tmp
                if os.getpid() == main_pid and not marker.exists():
                    pause()  # the temporary file is complete; the rename has not happened

        module.atomic_path = paused

    if point == "publish":
        import engine.cache_folder
        real_swap = engine.cache_folder.swap_into_place

        def paused_swap(tmp, target):
            pause()  # the new cache folder is complete in its temporary folder; nothing renamed yet
            real_swap(tmp, target)

        engine.cache_folder.swap_into_place = paused_swap

    from engine.cli import main
    sys.argv = ["gradcam-batch", *sys.argv[1:]]
    main()
""")

POINTS = ["model", "forward", "cache", "reports"]


@pytest.fixture(scope="module")
def pausing_world(world) -> Path:
    (world / "pausing_net.py").write_text(PAUSING_NET)
    arrays_folder(world / "data40", n=40)
    return world


CASES = [pytest.param(point, sig, "npz", id=f"{point}-{sig.name}") for point in POINTS
         for sig in (signal.SIGINT, signal.SIGTERM)]
CASES += [pytest.param("forward", signal.SIGTERM, "folder", id="forward-SIGTERM-cache-folder"),  # its files
          pytest.param("publish", signal.SIGINT, "folder", id="publish-SIGINT-cache-folder")]  # are written in the pass


@pytest.mark.parametrize("point, sig, cache_format", CASES)
def test_interrupted_run_keeps_the_previous_files_and_leaves_no_temporary_ones(pausing_world, tmp_path, point, sig,
                                                                             cache_format):
    out = tmp_path / "out"
    before = _previous_run(out)
    marker = tmp_path / "reached"
    env = {**os.environ, "HOSTILE_PAUSE_AT": point, "HOSTILE_MARKER": str(marker), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, "run", "--data", str(pausing_world / "data40"), "--model",
         f"{pausing_world / 'pausing_net.py'}:build", "--checkpoint", str(pausing_world / "r20.pth"),
         "--out", str(out), "--batch-size", "8", "--workers", "0", "--cache-format", cache_format],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert proc.poll() is None, f"the run ended before reaching {point}: {proc.communicate()[1]}"
            assert time.monotonic() < deadline, f"the run never reached {point}"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "Interrupted" in err.strip().splitlines()[-1]
    after = _files(out)
    assert not temporaries(after), sorted(after)  # no temporary file or folder
    if point != "reports":
        assert after == before  # the previous cache and reports, byte for byte
        return
    # interrupted while writing the reports: the new cache is complete and in place; every report file is
    # either the previous one or a complete new one
    assert load_cache(out / "cache.npz").num_images == 40
    for name, data in after.items():
        if name == "cache.npz" or data == before.get(name):
            continue
        if name.endswith(".png"):
            with Image.open(out / name) as im:
                im.load()
        elif name.endswith((".csv", ".txt")):
            assert data.endswith(b"\n") and b"previous" not in data, name


def test_disk_full_while_writing_a_cache_folder_keeps_the_previous_cache(world, tmp_path, monkeypatch):
    """The cache-folder form writes its per-image files during the pass; the disk fills there."""
    import engine.cache_folder as folder_mod

    out = tmp_path / "out"
    before = _previous_run(out)

    def pwrite_until_full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(folder_mod.os, "pwrite", pwrite_until_full)
    refused(cli(*run_args(world, out, "--cache-format", "folder")),
            f"Could not write the cache folder {out / 'cache'}: No space left on device")
    assert _files(out) == before  # no temporary folder, the previous cache and reports as they were


# --- the cache folder's loader, fuzzed (the .npz loader is fuzzed in tests/test_cache_fuzz.py) -----------

FOLDER_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder_files(tmp_path_factory) -> dict[str, bytes]:
    from engine.cache import save_cache_folder

    folder = save_cache_folder(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path_factory.mktemp("ff") / "c")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _load_folder(tmp_path: Path, files: dict[str, bytes]):
    folder = tmp_path / "cache"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    try:
        cache = load_cache(folder)
    except CacheError as exc:
        assert "\n" not in str(exc) and "gradcam-batch" in str(exc)
        return None
    assert isinstance(cache, RunCache)
    cache.analysis  # what every reader computes first: it must not fail on what the loader accepted
    return cache


@FOLDER_FUZZ
@given(data=st.data())
def test_cache_folder_with_a_truncated_or_missing_member(tmp_path, folder_files, data):
    name = data.draw(st.sampled_from(sorted(folder_files)))
    files = dict(folder_files)
    if data.draw(st.booleans()):
        del files[name]
    else:
        files[name] = files[name][: data.draw(st.integers(0, len(files[name]) - 1))]
    assert _load_folder(tmp_path, files) is None or name not in ("manifest.json", "labels.npy", "images.npy")


def _npy_data_start(blob: bytes) -> int:
    """Offset of a .npy file's array data (after magic, header length and header)."""
    if blob[6:7] == b"\x01":
        return 10 + int.from_bytes(blob[8:10], "little")
    return 12 + int.from_bytes(blob[8:12], "little")


@FOLDER_FUZZ
@given(data=st.data())
def test_cache_folder_with_flipped_bits(tmp_path, folder_files, data):
    """Bits flipped in the manifest and in the members' array data (headers: the test below)."""
    files = dict(folder_files)
    for _ in range(data.draw(st.integers(1, 6))):
        name = data.draw(st.sampled_from(sorted(files)))
        blob = bytearray(files[name])
        start = 0 if name == "manifest.json" else _npy_data_start(files[name])
        if len(blob) > start:
            blob[data.draw(st.integers(start, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        files[name] = bytes(blob)
    _load_folder(tmp_path, files)


@pytest.mark.parametrize("member", ["labels.npy", "probs.npy"])
def test_cache_folder_with_a_damaged_npy_header(tmp_path, folder_files, member):
    blob = folder_files[member]
    at = blob.index(b"'shape': (") + len(b"'shape': (") + 2  # inside the shape tuple: "(4, 3)" becomes "(4, 3("
    damaged = blob[:at] + b"(" + blob[at + 1:]
    assert _load_folder(tmp_path, dict(folder_files, **{member: damaged})) is None


def test_cache_folder_with_a_pickled_member_never_unpickles(tmp_path, folder_files, monkeypatch):
    import io

    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    Evil.target = str(tmp_path / "PWNED_BY_FOLDER")
    files = dict(folder_files, **{"probs.npy": buf.getvalue()})
    assert _load_folder(tmp_path, files) is None
    assert not (tmp_path / "PWNED_BY_FOLDER").exists()


# --- bad caches at the command line -----------------------------------------------------------------------


def _rewritten(src: Path, dst: Path, **changes) -> Path:
    with np.load(src, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    members.update(changes)
    np.savez(dst, **members)
    return dst


@pytest.mark.parametrize(
    "damage, expected",
    [("older schema", "has cache schema version 0, but this gradcam-tui reads version 1; re-create it: run `gradcam-batch run"),
     ("newer schema", "has cache schema version 2, but this gradcam-tui reads version 1; upgrade gradcam-tui"),
     ("older schema, folder", "has cache schema version 0, but this gradcam-tui reads version 1; re-create it"),
     ("truncated", "could not be read as a gradcam cache"),
     ("not a zip", "could not be read as a gradcam cache"),
     ("pickled member", "could not be read as a gradcam cache"),
     ("absent", "No cache at")],
    ids=["older-schema", "newer-schema", "older-schema-folder", "truncated", "not-a-zip", "pickled-member", "absent"],
)
def test_bad_caches_for_report_and_compare(tmp_path, damage, expected):
    from engine.cache import save_cache_folder

    good = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    if damage == "older schema":
        _rewritten(good, bad, schema_version=np.array(0))
    elif damage == "newer schema":
        _rewritten(good, bad, schema_version=np.array(2))
    elif damage == "older schema, folder":
        bad = save_cache_folder(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path / "cache")
        manifest = json.loads((bad / "manifest.json").read_text())
        (bad / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 0}))
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[:3000])
    elif damage == "not a zip":
        bad.write_bytes(b"\x00" * 100)
    elif damage == "pickled member":
        import io
        import zipfile

        with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
            for item in src.namelist():
                buf = io.BytesIO()
                np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
                dst.writestr(item, buf.getvalue() if item == "probs.npy" else src.read(item))
    refused(cli("report", "--cache", str(bad), "--out", str(tmp_path / "reports")), expected)
    assert not (tmp_path / "reports").exists()  # nothing written from a bad cache
    refused(cli("compare", str(good), str(bad), "--out", str(tmp_path / "cmp")), expected)
    assert not (tmp_path / "cmp").exists()
