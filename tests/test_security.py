"""Files from strangers: no code from a checkpoint runs, no control character from data reaches a terminal,
no markup in a path is parsed, no file the tool did not write is deleted, and one writer per output folder.
Real processes wherever the attack was a real process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from torch import nn

from engine.cache import load_cache, save_cache
from engine.cifar_resnet import cifar_resnet
from engine.console import visible
from engine.folder_lock import LOCK_NAME
from tests.conftest import need_shared
from tests.synthetic import synthetic_cache, temporaries

ROOT = Path(__file__).resolve().parents[1]
BATCH = [sys.executable, "-m", "engine"]
HOSTILE_NAMES = [
    "\x1b]0;pwned\x07cat",  # OSC: retitle the terminal
    "\x1b[2Jdog",  # CSI: clear the screen
    "\x9b31mred",  # C1 CSI
    "fox\nOverall accuracy: 99.00%",  # a fake line
    "\x1b]52;c;aGk=\x07clip",  # OSC 52: write the clipboard
    "[bold red]markup[/]",
    "\u202eevil",  # bidi override
    "plain",
]
# bytes that must never reach a terminal from data: every C0 control but newline, DEL, C1 (as UTF-8)
_RAW = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def batch(*args: str, timeout: int = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*BATCH, *map(str, args)], capture_output=True, timeout=timeout, cwd=cwd)


def assert_terminal_safe(proc: subprocess.CompletedProcess) -> str:
    """Neither stream holds a raw control byte; returns both, decoded."""
    for stream in (proc.stdout, proc.stderr):
        found = _RAW.search(stream)
        assert found is None, (found, stream[-2000:])
    return proc.stdout.decode() + proc.stderr.decode()


def hostile_arrays(folder: Path, n: int = 64) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(folder / "test_images.npy", rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "test_fine_labels.npy", np.arange(n) % len(HOSTILE_NAMES))
    meta = {"fine_label_names": HOSTILE_NAMES, "coarse_label_names": ["\x1b[31mgroup", "other"],
            "fine_to_coarse": [k % 2 for k in range(len(HOSTILE_NAMES))]}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def r20_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "r20.pth"
    torch.save(cifar_resnet(20, len(HOSTILE_NAMES)).state_dict(), path)
    return path


# --- TorchScript is code: it is never run ------------------------------------------------------------------


class Payload(nn.Module):
    """A ReLU whose TorchScript __setstate__ creates one file and overwrites the first bytes of another, as a
    hostile archive's would (TorchScript runs __setstate__ while loading)."""

    def __init__(self, created: str, overwritten: str) -> None:
        super().__init__()
        self.created, self.overwritten = created, overwritten
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, str, bool]:
        return (self.created, self.overwritten, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, str, bool]) -> None:
        self.created, self.overwritten, self.training = state[0], state[1], state[2]
        made = torch.from_file(state[0], shared=True, size=8, dtype=torch.uint8)
        made[0] = 80
        hit = torch.from_file(state[1], shared=True, size=4, dtype=torch.uint8)
        hit[0] = 80
        self.seen = int(made[0]) + int(hit[0])  # used, so TorchScript keeps the writes


class Spinner(nn.Module):
    """A ReLU whose __setstate__ never returns."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @torch.jit.export
    def __getstate__(self) -> Tuple[bool]:
        return (self.training,)

    @torch.jit.export
    def __setstate__(self, state: Tuple[bool]) -> None:
        self.training = state[0]
        n = 0
        while n >= 0:
            n = n + 1 - 1


def scripted_resnet20(path: Path, relu: nn.Module) -> Path:
    """The shared ResNet-20, faithfully, as TorchScript with `relu` in place of its stem ReLU (no weights)."""
    shared = need_shared()
    model = cifar_resnet(20, 100)
    model.load_state_dict(torch.load(shared / "models" / "chenyaofo_cifar100_resnet20.pth", weights_only=True))
    model.relu = relu
    torch.jit.save(torch.jit.script(model.eval()), path)
    return path


def test_a_torchscript_payload_never_runs_and_its_weights_still_load(tmp_path):
    shared = need_shared()
    created, overwritten = tmp_path / "created-by-payload", tmp_path / "victim.txt"
    evil = scripted_resnet20(tmp_path / "resnet20.pth", Payload(str(created), str(overwritten)))
    # the payload is live: torch.jit.load runs it
    overwritten.write_bytes(b"ORIGINAL")
    control = subprocess.run([sys.executable, "-c", f"import torch; torch.jit.load({str(evil)!r})"],
                             capture_output=True, timeout=120)
    assert control.returncode == 0, control.stderr
    assert created.exists() and overwritten.read_bytes() == b"PRIGINAL"
    created.unlink()
    overwritten.write_bytes(b"ORIGINAL")
    # the README's own command, with and without --arch: the weights load, the code never runs
    for arch in (["--arch", "cifar_resnet20"], []):
        out = tmp_path / f"out{len(arch)}"
        proc = batch("run", "--data", shared / "cifar100", *arch, "--checkpoint", evil, "--out", out, "--no-reports")
        text = assert_terminal_safe(proc)
        assert proc.returncode == 0, text
        assert "Overall accuracy: 68.83%" in text
        assert not created.exists() and overwritten.read_bytes() == b"ORIGINAL"
        assert "none of its code was run" in load_cache(out / "cache.npz").meta["model"]["loaded_as"]


def test_a_torchscript_setstate_that_never_returns_is_never_entered(tmp_path):
    shared = need_shared()
    evil = scripted_resnet20(tmp_path / "resnet20.pth", Spinner())
    proc = batch("run", "--data", shared / "cifar100", "--checkpoint", evil, "--out", tmp_path / "o",
                 "--no-reports", "--limit", "256", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()


# --- control characters from data never reach a terminal ---------------------------------------------------


def test_run_report_and_compare_print_hostile_names_escaped(tmp_path, r20_checkpoint):
    data = hostile_arrays(tmp_path / "data")
    out = tmp_path / "out"
    proc = batch("run", "--data", data, "--arch", "cifar_resnet20", "--checkpoint", r20_checkpoint, "--out", out)
    text = assert_terminal_safe(proc)
    assert proc.returncode == 0, text
    assert not re.search(r"^Overall accuracy: 99\.00%", text, re.M)  # the fake line stays inside its name
    shown = [visible(n) for n in HOSTILE_NAMES]
    assert any(s in text for s in shown[:4]), text  # the worst classes are printed, escaped
    report = batch("report", "--cache", out)
    assert report.returncode == 0 and assert_terminal_safe(report)
    compared = batch("compare", out, out, "--out", tmp_path / "cmp")
    text = assert_terminal_safe(compared)
    assert compared.returncode == 0, text
    assert "Comparison:" in text
    # the report files keep the real names
    cache = load_cache(out / "cache.npz")
    assert cache.class_names == HOSTILE_NAMES
    assert HOSTILE_NAMES[0] in (out / "per_class_accuracy.csv").read_text(encoding="utf-8")


def test_image_folder_names_and_a_hostile_path_are_escaped(tmp_path, r20_checkpoint):
    from tests.synthetic import random_image_folder

    folders = ("\x1b]0;title\x07a", "b\x1b[2J", "c", "d", "e", "f", "g", "h")
    random_image_folder(tmp_path / "imgs", folders, per_class=2, hw=(32, 32))
    proc = batch("run", "--data", tmp_path / "imgs", "--arch", "cifar_resnet20", "--checkpoint", r20_checkpoint,
                 "--out", tmp_path / "out", "--no-reports")
    text = assert_terminal_safe(proc)
    assert proc.returncode == 0, text
    missing = batch("run", "--data", tmp_path / "no\x1b[2Jsuch", "--arch", "cifar_resnet20",
                    "--checkpoint", r20_checkpoint, "--out", tmp_path / "o2")
    text = assert_terminal_safe(missing)
    assert missing.returncode == 2 and "no\\x1b[2Jsuch" in text


def test_a_shared_cache_with_hostile_names_and_metadata_is_escaped(tmp_path):
    cache = synthetic_cache()
    cache.class_names[:4] = HOSTILE_NAMES[:4]
    cache.meta["model"]["arch"] = "\x1b]0;owned\x07net"
    cache.meta["\x1b[2Jkey"] = "\x9bvalue"
    save_cache(cache, tmp_path / "cache.npz")
    proc = batch("report", "--cache", tmp_path / "cache.npz", "--out", tmp_path / "r")
    assert proc.returncode == 0 and assert_terminal_safe(proc)
    summary = (tmp_path / "r" / "analysis_summary.txt").read_text(encoding="utf-8")
    assert "\x1b]0;owned\x07net" in summary  # files keep what the cache says


def test_the_tui_shows_hostile_names_and_metadata_escaped(tmp_path):
    from tests.tui_fakes import better_cache
    from tui.app import GradCamApp

    cache = synthetic_cache()
    cache.class_names[:5] = HOSTILE_NAMES[:5]
    cache.superclass_names = ["\x1b[31mgroup_a", "group\x07b"]
    cache.meta["model"]["arch"] = "\x1b]0;owned\x07net"
    cache.meta["data"]["source"] = "\x9b2J/data"
    screens: list[str] = []

    async def tour() -> None:
        app = GradCamApp(cache, old_cache=better_cache(cache), out_dir=tmp_path, cache_path=tmp_path / "x\x1b[2J.npz")
        async with app.run_test(size=(140, 45)) as pilot:
            for key in "1234567":
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
                if key == "6":
                    await pilot.press("enter")
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                screens.append(app.export_screenshot())
            await pilot.press("3", "w")
            await app.workers.wait_for_complete()
            await pilot.pause()
            screens.append(app.export_screenshot())

    asyncio.run(tour())
    for svg in screens:
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", svg)
    everything = "".join(screens)
    assert "\\x1b]0;owned\\x07net" in everything  # the overview names the model, escaped
    assert "\\x1b[2Jdog" in everything.replace("&#160;", " ")  # a class name, escaped, in a table


# --- markup in paths and names is text ---------------------------------------------------------------------


def test_markup_in_paths_is_printed_as_typed(tmp_path):
    out = tmp_path / "results[/]x"
    proc = batch("run", "--data", "demo", "--out", out, "--limit", "200", "--no-reports")
    text = assert_terminal_safe(proc)
    assert proc.returncode == 0, text
    assert f"Cache written to {out / 'cache.npz'}" in text
    missing = batch("run", "--data", "demo", "--arch", "cifar_resnet20", "--checkpoint", "/x/[bold red]missing.pth",
                    "--out", tmp_path / "o")
    assert missing.returncode == 2
    assert "Checkpoint /x/[bold red]missing.pth does not exist." in missing.stderr.decode()
    rep_out = tmp_path / "rep[bold]"
    report = batch("report", "--cache", out, "--out", rep_out)
    assert report.returncode == 0, report.stderr.decode()
    assert f"files to {rep_out}" in report.stdout.decode()
    compared = batch("compare", out, out, "--out", tmp_path / "cmp[/]")
    assert compared.returncode == 0, compared.stderr.decode()
    assert f"Comparison: {out} -> {out}" in compared.stdout.decode()


def test_demo_into_a_markup_path(tmp_path):
    out = tmp_path / "demo[red]"
    proc = batch("demo", "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"gradcam-tui {out / 'cache.npz'}" in proc.stdout.decode()


def test_the_tui_writes_into_a_markup_path_and_says_where(tmp_path):
    from tui.app import GradCamApp

    out = tmp_path / "figs[/]x[bold]"
    shown: list[str] = []

    async def write() -> None:
        app = GradCamApp(synthetic_cache(), out_dir=out)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3", "w")
            await app.workers.wait_for_complete()
            await pilot.pause()
            shown.extend(n.message for n in app._notifications)
            assert app.written and app.written[0].parent == out.resolve()

    asyncio.run(write())
    assert any(str(out) in m for m in shown), shown


# --- the sweep removes only what the tool wrote --------------------------------------------------------------

LOOKALIKES = {
    "class_2024_holiday_photo.png": b"holiday",
    "class_000_apple_annotated_by_me.png": b"annotated",
    "confused_pair_9_cats_to_dogs.png": b"cats",
    "confused_pair_1_a_to_b.png": b"mine too",
}


def test_run_and_report_keep_the_users_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name, data in LOOKALIKES.items():
        (out / name).write_bytes(data)
    for args in (("run", "--data", "demo", "--out", out, "--limit", "300"), ("report", "--cache", out)):
        proc = batch(*args)
        assert proc.returncode == 0, proc.stderr.decode()
        for name, data in LOOKALIKES.items():
            assert (out / name).read_bytes() == data, (args[0], name)
    assert temporaries(out) == []


# --- one writer per output folder ----------------------------------------------------------------------------


def _wait_for_lock(folder: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not (folder / LOCK_NAME).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first run never took the folder's lock"
        time.sleep(0.05)


def test_a_second_run_into_a_busy_folder_refuses_and_names_the_first(tmp_path):
    out = tmp_path / "out"
    assert batch("run", "--data", "demo", "--out", out, "--limit", "100", "--no-reports").returncode == 0
    # then a run in batches of one image: long enough (tens of seconds) for the others to meet it at work
    first = subprocess.Popen([*BATCH, "run", "--data", "demo", "--out", str(out), "--batch-size", "1"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_lock(out, first)
        others = [subprocess.Popen([*BATCH, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                  for args in (["run", "--data", "demo", "--out", str(out), "--limit", "100"],
                               ["report", "--cache", str(out)])]
        refusals = [(p.wait(timeout=300), p.communicate()[1].decode()) for p in others]
        _, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err.decode()
    for code, stderr in refusals:
        assert code == 2, stderr
        line = stderr.strip().splitlines()[-1]
        assert line.startswith("Error: Another gradcam command is writing into") and f"pid {first.pid}" in line, line
    cache = load_cache(out / "cache.npz")
    assert cache.num_images > 100  # the first run's cache, whole
    figures = sorted(p.name for p in out.glob("class_*.png"))
    assert len(figures) == cache.num_classes  # and every one of its figures
    assert not (out / LOCK_NAME).exists()


def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen([*BATCH, "run", "--data", "demo", "--out", str(out)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_lock(out, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert (out / LOCK_NAME).exists()  # left behind, naming a dead process
    proc = batch("run", "--data", "demo", "--out", out, "--limit", "100", "--no-reports")
    assert proc.returncode == 0, proc.stderr.decode()
    assert not (out / LOCK_NAME).exists()


def test_locks_nest_in_one_process_and_exclude_another(tmp_path):
    from engine.folder_lock import FolderBusy, locked_folder

    code = (f"import time; from engine.folder_lock import locked_folder\n"
            f"with locked_folder(__import__('pathlib').Path({str(tmp_path)!r})):\n"
            f"    print('held', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
            with locked_folder(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
    with locked_folder(tmp_path), locked_folder(tmp_path):
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()
    assert os.listdir(tmp_path) == []
