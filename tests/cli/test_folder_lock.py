"""One writer per output folder, between real processes: a second command refuses and names the first,
and the lock of a killed run does not block the next."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.store import load_cache
from engine.store.folder_lock import LOCK_NAME
from tests.conftest import ROOT

BATCH = [sys.executable, "-m", "engine"]


def _wait_for_lock(folder: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not (folder / LOCK_NAME).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first run never took the folder's lock"
        time.sleep(0.05)


def test_a_second_run_into_a_busy_folder_refuses_and_names_the_first(tmp_path, batch):
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


def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path, batch):
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
    assert proc.returncode == 0, proc.stderr
    assert not (out / LOCK_NAME).exists()
