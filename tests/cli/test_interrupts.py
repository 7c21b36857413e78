"""SIGINT and SIGTERM to a real `gradcam-batch run` process, at every stage of the run: exit 130, one calm
sentence, the previous cache and reports byte for byte (or this run's complete files), no temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from engine.store import load_cache
from tests.conftest import ROOT, files_in, need_shared
from tests.synthetic import temporaries

PAUSING_NET = textwrap.dedent("""
    import os, time
    from pathlib import Path
    from engine.models.cifar_resnet import cifar_resnet

    def pause(point):
        if os.environ.get("HOSTILE_PAUSE_AT") == point:
            Path(os.environ["HOSTILE_MARKER"]).write_text(point)
            time.sleep(120)

    def build(num_classes):
        pause("model")  # while the model is being built and loaded
        net = cifar_resnet(20, num_classes)
        inner, batches = net.forward, [0]
        def forward(x):
            if x.shape[0] > 2:  # not the 2-image probe
                batches[0] += 1
                if batches[0] == 2:
                    pause("forward")  # inside the forward pass, one batch done
            return inner(x)
        net.forward = forward
        return net
""")

# The real entry point (engine.cli.main, with its SIGTERM handler), with a pause at the points no user code
# reaches: the new cache complete in its temporary file but not yet renamed, the reports phase, and a cache
# folder complete but not yet published.
CHILD = textwrap.dedent("""
    import os, sys, time
    from contextlib import contextmanager
    from pathlib import Path

    point, marker, main_pid = os.environ["HOSTILE_PAUSE_AT"], Path(os.environ["HOSTILE_MARKER"]), os.getpid()

    def pause():
        marker.write_text(point)
        time.sleep(120)

    if point in ("cache", "reports"):
        import engine.store.atomic, engine.store.npz
        real = engine.store.atomic.atomic_path
        module = engine.store.npz if point == "cache" else engine.store.atomic

        @contextmanager
        def paused(target):
            with real(target) as tmp:
                yield tmp
                if os.getpid() == main_pid and not marker.exists() and Path(target).name != ".gradcam-files.json":
                    pause()  # the temporary file is complete; the rename has not happened

        module.atomic_path = paused

    if point == "publish":
        import engine.store.folder
        real_swap = engine.store.folder.swap_into_place

        def paused_swap(tmp, target):
            pause()  # the new cache folder is complete in its temporary folder; nothing renamed yet
            real_swap(tmp, target)

        engine.store.folder.swap_into_place = paused_swap

    from engine.cli import main
    sys.argv = ["gradcam-batch", *sys.argv[1:]]
    main()
""")

POINTS = ["model", "forward", "cache", "reports"]


@pytest.fixture(scope="module")
def pausing_world(small_world, arrays_folder) -> Path:
    (small_world.base / "pausing_net.py").write_text(PAUSING_NET)
    arrays_folder(small_world.base / "data40", n=40)
    return small_world.base


CASES = [pytest.param(point, sig, "npz", id=f"{point}-{sig.name}") for point in POINTS
         for sig in (signal.SIGINT, signal.SIGTERM)]
CASES += [pytest.param("forward", signal.SIGTERM, "folder", id="forward-SIGTERM-cache-folder"),  # its files
          pytest.param("publish", signal.SIGINT, "folder", id="publish-SIGINT-cache-folder")]  # are written in the pass


@pytest.mark.parametrize("point, sig, cache_format", CASES)
def test_interrupted_run_keeps_the_previous_files_and_leaves_no_temporary_ones(pausing_world, tmp_path, previous_run,
                                                                             point, sig, cache_format):
    out = tmp_path / "out"
    before = previous_run(out)
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
    after = files_in(out)
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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_previous_cache_untouched(tmp_path, sig):
    """The real ResNet-56 on all of CIFAR-100, interrupted inside its forward pass."""
    shared = need_shared()
    old = tmp_path / "cache.npz"
    old.write_bytes(b"previous cache bytes")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--data", str(shared / "cifar100"), "--arch", "cifar_resnet56",
         "--batch-size", "64", "--checkpoint", str(shared / "models" / "chenyaofo_cifar100_resnet56.pth"),
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    while not proc.stderr.readline().startswith("Data:"):  # printed just before the pass starts
        assert proc.poll() is None, "the run ended before its pass"
    time.sleep(2)  # inside the forward pass (it takes about 25 s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Interrupted" in err
    assert old.read_bytes() == b"previous cache bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]
