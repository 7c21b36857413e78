"""Hostile surroundings for a real `gradcam-batch` process: signals to the whole process group, a dropped
SSH session, a stale torchrun environment, a terminal encoding without accents, a standard output that
refuses writes. Each is exit 130 for an interrupt or one sentence and exit 2, never a traceback, with the
previous files byte for byte and nothing temporary left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.store import save_cache
from tests.cli.test_interrupts import CHILD, PAUSING_NET
from tests.conftest import ROOT, files_in
from tests.synthetic import synthetic_cache, temporaries


@pytest.fixture(scope="module")
def pausing(small_world, image_folder) -> Path:
    """small_world plus a model that pauses inside its forward pass, and an ImageFolder of 40 images."""
    (small_world.base / "pausing_net.py").write_text(PAUSING_NET)
    image_folder(small_world.base / "imgs40", classes=tuple(f"c{i}" for i in range(10)), per_class=4)
    return small_world.base


def _sighup_default() -> None:
    """The run as a login shell starts it: under nohup (SIGHUP ignored) the run rightly keeps ignoring it."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _interrupted(base: Path, tmp_path: Path, data: str, sig: signal.Signals, *extra: str):
    """`run` paused inside its forward pass, then `sig` to its whole process group (as `timeout`,
    `kill -- -PGID`, systemd, scancel and a closing SSH session send it): (exit code, stderr)."""
    marker = tmp_path / "reached"
    env = {**os.environ, "HOSTILE_PAUSE_AT": "forward", "HOSTILE_MARKER": str(marker), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, "run", "--data", str(base / data), "--model", f"{base / 'pausing_net.py'}:build",
         "--checkpoint", str(base / "r20.pth"), "--out", str(tmp_path / "out"), "--batch-size", "8", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, start_new_session=True,
        preexec_fn=_sighup_default)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the run never reached its forward pass"
            time.sleep(0.05)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


@pytest.mark.parametrize("data, sig, extra", [
    ("imgs40", signal.SIGTERM, ("--workers", "2")),
    ("data", signal.SIGHUP, ("--workers", "0", "--cache-format", "folder")),
], ids=["SIGTERM-to-the-group-with-DataLoader-workers", "SIGHUP-during-a-cache-folder-run"])
def test_signals_to_the_whole_process_group_are_the_interrupt(pausing, tmp_path, previous_run, data, sig, extra):
    before = previous_run(tmp_path / "out")
    code, err = _interrupted(pausing, tmp_path, data, sig, *extra)
    assert code == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err and "terminate called" not in err, err
    assert "Interrupted" in err.strip().splitlines()[-1]
    after = files_in(tmp_path / "out")
    assert after == before and not temporaries(after)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_stale_torchrun_environment_is_one_sentence_in_seconds(small_world, cli, tmp_path, monkeypatch):
    port = _free_port()
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                        "GRADCAM_RENDEZVOUS_SECONDS": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    started = time.monotonic()
    cli(*small_world.run_args(tmp_path / "out", "--no-reports")).refused(
        f"Only 1 of the 2 processes joined at 127.0.0.1:{port} within 1 s", "not started by torchrun",
        "unset WORLD_SIZE, RANK")
    assert time.monotonic() - started < 30
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "no-such-host.invalid")
    cli(*small_world.run_args(tmp_path / "out", "--no-reports")).refused(
        "rank 1: MASTER_ADDR='no-such-host.invalid' cannot be resolved", "not started by torchrun")


def test_a_stale_torchrun_environment_waits_interruptibly(small_world, tmp_path):
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "GRADCAM_RENDEZVOUS_SECONDS": "120"}
    env.pop("TORCHELASTIC_RUN_ID", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine", *small_world.run_args(tmp_path / "out", "--no-reports")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        seen = []
        while not any("not from torchrun: waiting up to 120 s" in line for line in seen):
            line = proc.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted" in err


@pytest.fixture
def accented_cache(tmp_path) -> Path:
    cache = synthetic_cache(n_per_class=4, num_classes=4)
    cache.class_names[:] = ["café", "naïve", "Zürich", "東京"]
    path = tmp_path / "café" / "cache.npz"
    path.parent.mkdir()
    save_cache(cache, path)
    return path


def test_an_ascii_terminal_gets_escapes_not_a_traceback(accented_cache, batch):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = batch("report", "--cache", accented_cache, env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "caf\\xe9" in proc.stdout


def test_a_standard_output_that_refuses_writes_is_one_sentence(accented_cache, tmp_path):
    out = tmp_path / "reports"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "engine", "report", "--cache", str(accented_cache), "--out",
                               str(out)], stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "Error: Could not write to standard output: No space left on device."
    assert (out / "per_class_accuracy.csv").exists()  # the reports themselves were written
