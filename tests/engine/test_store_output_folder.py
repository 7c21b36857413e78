"""The output folder's own bookkeeping (engine.store): atomic writes, the preflight of a folder's room, and
its lock (one writer at a time)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

import engine.store.output_folder as output_folder_mod
from engine.errors import FolderBusy, UserError, WriteFailed
from engine.store.atomic import atomic_path, write_text
from engine.store.folder_lock import LOCK_NAME, locked_folder
from engine.store.output_folder import check_output_folder, estimate_run_bytes
from tests.conftest import ROOT


def test_interrupted_write_leaves_previous_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_refused_write_is_one_sentence_naming_the_file(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    target.write_text("previous")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("engine.store.atomic.os.fsync", full)
    expected = f"Could not write {target}: No space left on device; the previous file is unchanged"
    with pytest.raises(WriteFailed, match=expected):
        write_text(target, "new")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_too_little_free_space_for_the_estimate(tmp_path, monkeypatch):
    needed = estimate_run_bytes(10_000, 32, 32, 100)
    assert 85e6 < needed.total < 95e6  # CIFAR-100 (ResNet-56): 57.1 MB cache + 34.3 MB reports measured
    with_maps = estimate_run_bytes(10_000, 32, 32, 100, feature_channels=64, any_class_bytes=81_945_600)
    assert with_maps.cache == needed.cache + 10_000 * 64 * 2 + 81_945_600  # the any-class members, counted
    assert 135e6 < with_maps.cache < 145e6  # ResNet-56: 137.8 MB measured, + 2.6 MB of contrastive maps
    free = shutil.disk_usage(tmp_path).free
    check_output_folder(tmp_path, needed_bytes=min(needed.total, free // 2))  # room: no complaint
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=50 * 1024 * 1024))
    with pytest.raises(UserError, match=r"has 50.0 MiB free but this run writes about 8\d\.\d MiB; free some space"):
        check_output_folder(tmp_path, needed_bytes=needed)


def test_locks_nest_in_one_process_and_exclude_another(tmp_path):
    code = (f"import time; from engine.store.folder_lock import locked_folder\n"
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
