"""The output folder under `gradcam-batch run` and `report`: a folder that cannot hold the run is refused
before the work; a disk that fills mid-write leaves the previous files whole; files the tool did not write
are never removed. Faults the machine cannot produce on demand (a full or read-only disk) are injected at
the system call; where this machine allows mounting a small tmpfs, they are also real."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

import engine.store.output_folder as output_folder_mod
from engine.store import load_cache
from tests.conftest import files_in
from tests.synthetic import temporaries


def _no_work(monkeypatch):
    """Fail the test if the command gets as far as reading the data (the long work)."""
    import engine.sources

    def never(*a, **k):
        raise AssertionError("the data was loaded although the output folder is unusable")

    monkeypatch.setattr(engine.sources, "open_source", never)


# --- refused before the work ------------------------------------------------------------------------------


def test_output_folder_that_is_a_file(small_world, cli, tmp_path, monkeypatch):
    _no_work(monkeypatch)
    target = tmp_path / "results.txt"
    target.write_text("the user's file")
    cli(*small_world.run_args(target)).refused(f"The output folder {target} is a file; choose another --out.")
    assert target.read_text() == "the user's file"
    cli(*small_world.run_args(target / "sub")).refused(f"Cannot create the output folder {target / 'sub'}",
                                                       f"{target} is a file")
    assert target.read_text() == "the user's file"


@pytest.mark.parametrize(
    "code, expected",
    [(errno.EROFS, "it is on a read-only file system"), (errno.EACCES, "permission denied"),
     (errno.ENOSPC, "no space left on the device"), (errno.EDQUOT, "no space left on the device")],
    ids=["read-only", "permission", "disk-full", "quota"],
)
def test_unwritable_output_folder_is_refused_before_the_work(small_world, cli, tmp_path, monkeypatch, code, expected):
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
    cli(*small_world.run_args(out)).refused(f"Cannot write to the output folder {out}: {expected}.")
    assert sorted(p.name for p in out.iterdir()) == ["cache.npz"]  # the probe file is gone too
    assert (out / "cache.npz").read_bytes() == b"previous"


def test_run_refuses_a_folder_without_room_for_its_files_before_the_pass(small_world, cli, tmp_path, monkeypatch):
    """`run` checks the free space against its own estimate before the forward pass starts."""
    import engine.run

    def never(*a, **k):
        raise AssertionError("the pass started although the output folder has no room")

    monkeypatch.setattr(engine.run, "stream_pass", never)
    out = tmp_path / "out"
    out.mkdir()
    usage = shutil.disk_usage(out)
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=64 * 1024))
    cli(*small_world.run_args(out)).refused(f"{out} has 64.0 KiB free but this run writes about", "free some space")
    assert list(out.iterdir()) == []


# --- a disk that fills mid-write ----------------------------------------------------------------------------


def test_disk_full_while_writing_the_cache_keeps_the_previous_one(small_world, cli, tmp_path, previous_run,
                                                                  monkeypatch):
    import engine.store.npz as npz_mod

    out = tmp_path / "out"
    before = previous_run(out)

    def savez_until_full(fh, **members):
        fh.write(b"PK\x03\x04 the first bytes of a zip")  # a half-written cache ...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... then the disk is full

    monkeypatch.setattr(npz_mod.np, "savez", savez_until_full)
    cli(*small_world.run_args(out)).refused(f"Could not write {out / 'cache.npz'}: No space left on device",
                                            "the previous file is unchanged")
    assert files_in(out) == before  # nothing replaced, no temporary file, no half-written file


def test_disk_full_while_writing_a_cache_folder_keeps_the_previous_cache(small_world, cli, tmp_path, previous_run,
                                                                         monkeypatch):
    """The cache-folder form writes its per-image files during the pass; the disk fills there."""
    import engine.store.folder as folder_mod

    out = tmp_path / "out"
    before = previous_run(out)

    def pwrite_until_full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(folder_mod.os, "pwrite", pwrite_until_full)
    cli(*small_world.run_args(out, "--cache-format", "folder")).refused(
        f"Could not write the cache folder {out / 'cache'}: No space left on device")
    assert files_in(out) == before  # no temporary folder, the previous cache and reports as they were


def test_disk_full_while_writing_the_reports_leaves_no_half_file(small_world, cli, tmp_path, previous_run,
                                                                 monkeypatch):
    """The disk fills after a few report files: those are complete, the rest are the previous ones."""
    import engine.reports.writer as writer
    import engine.store.atomic as atomic_mod

    out = tmp_path / "out"
    cli(*small_world.run_args(out, "--no-reports")).completed()
    before = {**previous_run(out), "cache.npz": (out / "cache.npz").read_bytes()}
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
    cli("report", "--cache", out / "cache.npz").refused("Could not write", "No space left on device")
    after = files_in(out)
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


def test_real_read_only_output_folder(small_world, cli, mounted, monkeypatch):
    _no_work(monkeypatch)
    out = mounted("ro")
    cli(*small_world.run_args(out)).refused(
        f"Cannot write to the output folder {out}: it is on a read-only file system.")
    assert (out / "cache.npz").read_bytes() == b"previous"


def test_real_full_disk_is_refused_before_the_pass(small_world, arrays_folder, cli, mounted, tmp_path):
    """A real 1 MiB file system and a run whose cache needs about 1.9 MB: refused up front by the free-space
    estimate (a write that fails later anyway is covered by the disk-full tests above)."""
    out = mounted("tmpfs", size_kib=1024)
    (out / "cache.npz").write_bytes(b"previous" * 1000)
    big = arrays_folder(tmp_path / "big", n=400, size=32)  # a cache of about 1.9 MB: the probe fits, the cache does not
    line = cli(*small_world.run_args(out, "--no-reports", data=big)).refused(
        f"The output folder {out} has", "free but this run writes about", "free some space")
    assert sorted(p.name for p in out.iterdir()) == ["cache.npz"] and line
    assert (out / "cache.npz").read_bytes() == b"previous" * 1000


# --- the sweep removes only what the tool wrote --------------------------------------------------------------

LOOKALIKES = {
    "class_2024_holiday_photo.png": b"holiday",
    "class_000_apple_annotated_by_me.png": b"annotated",
    "confused_pair_9_cats_to_dogs.png": b"cats",
    "confused_pair_1_a_to_b.png": b"mine too",
}


def test_run_and_report_keep_the_users_files(tmp_path, batch):
    out = tmp_path / "out"
    out.mkdir()
    for name, data in LOOKALIKES.items():
        (out / name).write_bytes(data)
    for args in (("run", "--data", "demo", "--out", out, "--limit", "300"), ("report", "--cache", out)):
        proc = batch(*args)
        assert proc.returncode == 0, proc.stderr
        for name, data in LOOKALIKES.items():
            assert (out / name).read_bytes() == data, (args[0], name)
    assert load_cache(out / "cache.npz").num_images == 300
    assert temporaries(out) == []


def test_a_folder_named_cache_that_is_not_a_cache_is_refused(small_world, cli, tmp_path):
    out = tmp_path / "out"
    (out / "cache").mkdir(parents=True)
    (out / "cache" / "notes.txt").write_text("mine")
    cli(*small_world.run_args(out, "--cache-format", "folder", "--no-reports")).refused(
        f"{out / 'cache'} exists and is not a gradcam cache folder; move it away or choose another --out.")
    assert (out / "cache" / "notes.txt").read_text() == "mine"
