"""Several processes, one cache (engine.gradcam.distributed, shards): every image in exactly one shard, in
one-process batches; `torchrun -m engine run` with two gloo processes on the CPU writes the very cache one
process writes, and an error on one rank stops every rank instead of leaving the others waiting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.errors import UserError
from engine.gradcam.distributed import Ranks
from engine.gradcam.shards import batch_ranges, shard_batches
from engine.store import load_cache
from engine.store.written_files import MANIFEST_NAME
from tests.conftest import ROOT

# 301 images in batches of 64: 5 batches, rank 0 reads 2 (128 images) and rank 1 reads 3 (173), the last short
RUN = ["run", "--data", "demo", "--limit", "301", "--batch-size", "64", "--no-reports"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(*args: str, nproc: int = 2, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "engine", *args]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # gloo on the CPU even where a GPU is present
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)


@pytest.mark.parametrize("n", [0, 1, 7, 64, 301, 1000, 1023])
@pytest.mark.parametrize("batch_size", [1, 16, 64, 256])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_image_exactly_once_in_single_process_batches(n, batch_size, world):
    shards = shard_batches(n, batch_size, world)
    assert len(shards) == world
    flat = [b for shard in shards for b in shard]
    assert flat == batch_ranges(n, batch_size)  # the same batches, in rank order = image order
    seen = np.concatenate([np.arange(a, b) for a, b in flat]) if flat else np.zeros(0, int)
    np.testing.assert_array_equal(seen, np.arange(n))  # each index once: no padding, no drop
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1  # whole batches spread evenly


def test_two_processes_write_the_cache_one_process_writes(tmp_path, batch):
    one, two = tmp_path / "one", tmp_path / "two"
    p1 = batch(*RUN, "--out", one, timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert p1.returncode == 0, p1.stderr
    p2 = torchrun(*RUN, "--out", str(two), "--cache-format", "folder")  # rank 0 writes the folder form too
    assert p2.returncode == 0, p2.stderr
    a, b = load_cache(one / "cache.npz"), load_cache(two / "cache")
    assert b.meta["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert a.num_images == b.num_images == 301
    for name in ("labels", "topk_classes", "images", "masks"):  # same images in the same order, same predictions
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    for name in ("cam_true", "cam_topk", "cam_contrast", "probs", "logits"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=1e-5, rtol=0, err_msg=name)
    for name in ("features", "cam_activations", "cam_all"):  # fp16: equal to its rounding
        assert (getattr(a, name) is None) == (getattr(b, name) is None), name
        if getattr(a, name) is not None:
            np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=1e-3, rtol=1e-3, err_msg=name)
    assert a.features is not None
    np.testing.assert_array_equal(AnalysedRun(b).metrics.confusion, AnalysedRun(a).metrics.confusion)
    # rank 0 alone prints the summary and writes; the other rank writes nothing
    assert p2.stdout.count("Predictions collected for 301 images") == 1
    assert sorted(p.name for p in two.iterdir()) == [MANIFEST_NAME, "cache"]
    assert json.loads((two / "cache" / "manifest.json").read_text())["num_images"] == 301


@pytest.fixture
def folder_with_a_broken_image(tmp_path, image_folder, resnet20_checkpoint):
    """An ImageFolder of 2 x 40 images 16x16 whose last image (read by rank 1) is not an image, and a checkpoint."""
    image_folder(tmp_path / "imgs", ("ant", "bee"), per_class=40, hw=(16, 16))
    (tmp_path / "imgs" / "bee" / "39.png").write_bytes(b"not a png")
    resnet20_checkpoint(tmp_path / "r20.pth", num_classes=2)
    return tmp_path


def test_an_error_on_one_rank_stops_every_rank(folder_with_a_broken_image):
    base = folder_with_a_broken_image
    proc = torchrun("run", "--data", str(base / "imgs"), "--arch", "cifar_resnet20", "--checkpoint", str(base / "r20.pth"),
                    "--batch-size", "16", "--workers", "0", "--no-reports", "--out", str(base / "out"), timeout=90)
    assert proc.returncode != 0
    assert "Error: rank 1 failed: Image" in proc.stderr and "39.png could not be read" in proc.stderr, proc.stderr
    assert "Error: rank 1: Image" in proc.stderr  # the failing rank says it too, with its rank
    assert not (base / "out").exists() or [p.name for p in (base / "out").iterdir()] == []


def test_one_process_reads_the_same_world_size_variables_torchrun_sets(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert Ranks.from_env() == Ranks()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(UserError, match="MASTER_ADDR/MASTER_PORT are not set"):
        Ranks.from_env()
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(UserError, match="do not fit together"):
        Ranks.from_env()
