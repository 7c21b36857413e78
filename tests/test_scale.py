"""Beyond one machine's memory: shards, the streaming loader, the cache folder, --image-size/--weights, flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import engine.cache_folder as cache_folder
from engine.cache import CacheError, load_cache, resolve_cache_path, save_cache, save_cache_folder
from engine.shards import batch_ranges, shard_batches
from tests.synthetic import random_image_folder

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- shards


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


# ---------------------------------------------------------------- cache folder


def test_folder_cache_round_trip_is_memory_mapped(tmp_path, small_cache):
    path = save_cache_folder(small_cache, tmp_path / "cache")
    loaded = load_cache(path)
    for name in ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "masks", "logits"):
        assert isinstance(getattr(loaded, name), np.memmap), name
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_cache, name))
    assert loaded.meta == small_cache.meta and loaded.class_names == small_cache.class_names
    assert loaded.superclass_names == small_cache.superclass_names
    np.testing.assert_array_equal(loaded.analysis.worst_idx, small_cache.analysis.worst_idx)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "gradcam-cache-folder" and manifest["num_images"] == small_cache.num_images
    assert manifest["members"]["cam_topk"]["shape"] == list(small_cache.cam_topk.shape)
    # the same members as the .npz, member for member
    npz = save_cache(small_cache, tmp_path / "cache.npz")
    with np.load(npz, allow_pickle=False) as z:
        assert set(z.files) == set(manifest["members"])
        for name in z.files:
            np.testing.assert_array_equal(np.load(path / f"{name}.npy"), z[name], err_msg=name)


def test_rows_written_out_of_order_land_at_their_offsets(tmp_path):
    with cache_folder.FolderCacheWriter(tmp_path / "c", 10) as w:
        w.write_rows("x", 6, np.arange(6, 10, dtype=np.float32)[:, None] * [1, 2])
        w.write_rows("x", 0, np.arange(0, 6, dtype=np.float32)[:, None] * [1, 2])
        got = w.rows_written()["x"]
        np.testing.assert_array_equal(got, np.arange(10, dtype=np.float32)[:, None] * [1, 2])


def test_interrupted_folder_write_leaves_the_previous_cache(tmp_path, small_cache, monkeypatch):
    target = save_cache_folder(small_cache, tmp_path / "cache")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def explode(self, start, values):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_folder.NpyWriter, "write", explode)
    with pytest.raises(KeyboardInterrupt):
        save_cache_folder(small_cache, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # no temporary folder left behind


def test_interrupted_swap_puts_the_previous_cache_back(tmp_path, small_cache, monkeypatch):
    target = save_cache_folder(small_cache, tmp_path / "cache")
    before = sorted(p.name for p in target.iterdir())
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder into place: killed right there
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(cache_folder.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        save_cache_folder(small_cache, target)
    monkeypatch.setattr(cache_folder.os, "rename", real_rename)
    assert sorted(p.name for p in target.iterdir()) == before
    assert load_cache(target).num_images == small_cache.num_images
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_republishing_replaces_the_folder(tmp_path, small_cache):
    from tests.synthetic import synthetic_cache

    save_cache_folder(small_cache, tmp_path / "cache")
    other = synthetic_cache(n_per_class=3)
    save_cache_folder(other, tmp_path / "cache")
    assert load_cache(tmp_path / "cache").num_images == other.num_images
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def _edit_member(folder: Path, name: str, array: np.ndarray) -> None:
    np.save(folder / f"{name}.npy", array)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["members"][name] = {"dtype": np.lib.format.dtype_to_descr(array.dtype), "shape": list(array.shape)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("version", "upgrade gradcam-tui"),
        ("truncated", "could not be read as a gradcam cache folder"),
        ("manifest shape", "the manifest says"),
        ("labels range", "labels out of range"),
        ("missing member", "missing probs"),
        ("foreign manifest", "could not be read as a gradcam cache folder"),
    ],
)
def test_damaged_cache_folders_are_one_sentence(tmp_path, small_cache, damage, expected):
    folder = save_cache_folder(small_cache, tmp_path / "cache")
    manifest = json.loads((folder / "manifest.json").read_text())
    if damage == "version":
        manifest["schema_version"] += 1
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "truncated":
        data = (folder / "cam_topk.npy").read_bytes()
        (folder / "cam_topk.npy").write_bytes(data[: len(data) // 2])
    elif damage == "manifest shape":
        manifest["members"]["probs"]["shape"][0] += 1
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "labels range":
        _edit_member(folder, "labels", np.full(small_cache.num_images, 99, dtype=np.int64))
    elif damage == "missing member":
        del manifest["members"]["probs"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    else:
        (folder / "manifest.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CacheError, match=expected):
        load_cache(folder)


def test_folder_load_does_not_recompute_the_stored_selections(tmp_path, small_cache):
    """Documented limit: a folder's stored confusion matrix is checked for shape, not recomputed on load
    (the .npz is); what the TUI shows is computed from the per-image arrays either way."""
    folder = save_cache_folder(small_cache, tmp_path / "cache")
    c = small_cache.num_classes
    _edit_member(folder, "confusion", np.zeros((c, c), dtype=np.int64))
    loaded = load_cache(folder)
    np.testing.assert_array_equal(loaded.analysis.confusion, small_cache.analysis.confusion)
    _edit_member(folder, "confusion", np.zeros((c, c + 1), dtype=np.int64))
    with pytest.raises(CacheError, match="stored confusion"):
        load_cache(folder)


def test_the_cache_a_path_means(tmp_path, small_cache):
    out = tmp_path / "gradcam_results"
    folder = save_cache_folder(small_cache, out / "cache")
    assert resolve_cache_path(out) == folder  # an output folder
    assert resolve_cache_path(out / "cache.npz") == folder  # the default name, written as a folder
    assert resolve_cache_path(folder) == folder
    save_cache(small_cache, out / "cache.npz")
    os.utime(folder, (1, 1))
    assert resolve_cache_path(out) == out / "cache.npz"  # the newer of the two
    assert resolve_cache_path(tmp_path / "absent.npz") == tmp_path / "absent.npz"


def test_tui_opens_an_output_folder_holding_a_cache_folder(tmp_path, small_cache, monkeypatch):
    import tui.__main__ as tui_main
    import tui.app

    save_cache_folder(small_cache, tmp_path / "cache")
    opened = {}

    class FakeApp:
        def __init__(self, cache, **kw):
            opened.update(cache=cache, **kw)

        def run(self):
            pass

    monkeypatch.setattr(tui.app, "GradCamApp", FakeApp)
    tui_main.main([str(tmp_path)])
    assert opened["cache"].num_images == small_cache.num_images
    assert opened["cache_path"] == tmp_path / "cache" and opened["out_dir"] == tmp_path


# ---------------------------------------------------------------- streaming sources and transforms


def _arrays(folder: Path, images: np.ndarray, num_classes: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "test_images.npy", images)
    np.save(folder / "test_fine_labels.npy", np.arange(len(images)) % num_classes)
    (folder / "meta.json").write_text(json.dumps({"fine_label_names": [f"c{i}" for i in range(num_classes)]}))
    return folder


def _normalised(images: np.ndarray, mean, std) -> torch.Tensor:
    """What the engine feeds the model for these uint8 images."""
    from engine.inference import to_model_input

    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    return to_model_input(images, m, s, torch.device("cpu")).contiguous()


def _through_the_loader(data, display_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    from engine.loader import iterate_batches

    got = list(iterate_batches(data.images, data.labels, batch_ranges(len(data), 3), display_size=display_size,
                               workers=1, pin_memory=False))
    assert [g[0] for g in got] == [a for a, _ in batch_ranges(len(data), 3)]
    return np.concatenate([g[1].numpy() for g in got]), np.concatenate([g[2] for g in got])


def test_weights_transforms_on_an_image_folder_give_torchvisions_tensors(tmp_path):
    from torchvision.datasets import ImageFolder
    from torchvision.models import get_weight

    from engine.data import load_data
    from engine.preprocess import from_weights

    rng = np.random.default_rng(0)
    for c, sizes in (("ant", [(300, 260), (180, 240)]), ("bee", [(240, 320), (257, 255)])):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.jpg")
    name = "ResNet50_Weights.IMAGENET1K_V2"  # resize 232, crop 224
    pre = from_weights(name)
    data = load_data(str(tmp_path / "imgs"), preprocess=pre)
    images, display = _through_the_loader(data)
    assert images.shape == (4, 224, 224, 3) and display.shape == (4, 128, 128, 3)
    reference = ImageFolder(str(tmp_path / "imgs"), transform=get_weight(name).transforms())
    expected = torch.stack([reference[i][0] for i in range(len(reference))])
    assert [t for _, t in reference.samples] == data.labels.tolist()
    torch.testing.assert_close(_normalised(images, pre.mean, pre.std), expected, atol=1e-6, rtol=0)


def test_image_size_on_an_arrays_folder_gives_torchvisions_tensors(tmp_path):
    from torchvision.transforms._presets import ImageClassification

    from engine.data import load_data
    from engine.lazy_images import TransformedImages
    from engine.preprocess import from_image_size

    raw = np.random.default_rng(1).integers(0, 255, (7, 40, 50, 3), dtype=np.uint8)
    data = load_data(str(_arrays(tmp_path / "a", raw)), preprocess=from_image_size(32))
    assert isinstance(data.images, TransformedImages) and data.images.shape == (7, 32, 32, 3)
    images, display = _through_the_loader(data)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    tv = ImageClassification(crop_size=32, resize_size=37, mean=mean, std=std)  # 37 = round(32 * 256 / 224)
    expected = torch.stack([tv(torch.from_numpy(im).permute(2, 0, 1)) for im in raw])
    torch.testing.assert_close(_normalised(images, mean, std), expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(display, images)  # 32 px: stored as the model sees it


def test_arrays_are_read_from_the_file_batch_by_batch(tmp_path):
    from engine.data import load_data
    from engine.lazy_images import NpyImages

    raw = np.random.default_rng(2).integers(0, 255, (11, 8, 6, 3), dtype=np.uint8)
    data = load_data(str(_arrays(tmp_path / "a", raw)))
    assert isinstance(data.images, NpyImages)
    head = data.head(9)
    assert head.images.shape == (9, 8, 6, 3) and len(head) == 9
    np.testing.assert_array_equal(np.asarray(head.images[2:7]), raw[2:7])
    np.testing.assert_array_equal(data.images[-1], raw[-1])
    images, _ = _through_the_loader(data)
    np.testing.assert_array_equal(images, raw)


def test_image_folder_of_mixed_sizes_needs_image_size(tmp_path):
    from engine.data import load_data
    from engine.loader import iterate_batches
    from engine.errors import UserError

    for i, size in enumerate([(16, 16), (16, 16), (20, 16)]):
        (tmp_path / "imgs" / "a").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(tmp_path / "imgs" / "a" / f"{i}.png")
    data = load_data(str(tmp_path / "imgs"))
    with pytest.raises(UserError, match=r"2.png is 16x20 but the first image is 16x16; pass --image-size"):
        list(iterate_batches(data.images, data.labels, [(0, 3)], display_size=128, workers=1, pin_memory=False))


# ---------------------------------------------------------------- a torchvision ResNet with its own weights file


def test_torchvision_resnet_with_weights_runs_end_to_end(tmp_path):
    import torchvision

    from engine.cli import app

    random_image_folder(tmp_path / "imgs", ("ant", "bee"), 3, (90, 120), seed=3)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), tmp_path / "r18.pth")
    result = CliRunner().invoke(app, [
        "run", "--data", str(tmp_path / "imgs"), "--arch", "tv_resnet18", "--checkpoint", str(tmp_path / "r18.pth"),
        "--weights", "ResNet18_Weights.IMAGENET1K_V1", "--display-size", "64", "--no-reports", "--device", "cpu",
        "--out", str(tmp_path / "out"),
    ])
    assert result.exit_code == 0, result.output
    cache = load_cache(tmp_path / "out" / "cache.npz")
    assert cache.images.shape == (6, 64, 64, 3)  # the 224x224 crop, stored at the display size
    assert cache.cam_true.shape == (6, 7, 7) and cache.meta["target_layer"] == "layer4"
    assert cache.meta["data"]["model_input_size"] == [224, 224]
    assert cache.meta["data"]["preprocess"]["resize_shorter_side"] == 256
    assert cache.meta["normalisation"]["mean"] == [0.485, 0.456, 0.406]


# ---------------------------------------------------------------- bad flags


BAD_FLAGS = {
    "image size 0": (["--image-size", "0"], "--image-size 0 is not a size in pixels"),
    "unknown weights": (["--weights", "ResNet50_Weights.NOPE"], "is not a torchvision weights name"),
    "weights and mean": (["--weights", "ResNet50_Weights.IMAGENET1K_V1", "--mean", "0.5", "0.5", "0.5"], "drop --image-size/--mean/--std"),
    "weights and size": (["--weights", "ResNet50_Weights.IMAGENET1K_V1", "--image-size", "224"], "drop --image-size/--mean/--std"),
    "cache format": (["--cache-format", "zip"], "--cache-format 'zip' is not one of auto, npz, folder"),
    "workers": (["--workers", "-1"], "--workers -1"),
    "display size": (["--display-size", "0"], "--display-size 0 is not a size in pixels"),
}


@pytest.mark.parametrize("case", list(BAD_FLAGS))
def test_bad_scale_flags_are_one_sentence_and_exit_2(tmp_path, case):
    from engine.cli import app

    flags, expected = BAD_FLAGS[case]
    result = CliRunner().invoke(app, ["run", "--data", "demo", *flags, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and expected in lines[0], result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_bad_flag_from_the_command_line_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "engine", "run", "--data", "demo", "--weights", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("Error: --weights 'nope' is not a torchvision weights name")


# ---------------------------------------------------------------- memory stays bounded as N grows


TINY_MODEL = '''
from torch import nn

def build(num_classes=10):
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))
'''
MEASURE = '''
import atexit, sys
def peak_kb():  # VmHWM: this process's own peak (ru_maxrss would carry over the parent's across fork + exec)
    return next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
atexit.register(lambda: print(f"MAXRSS_KB {peak_kb()}", file=sys.stderr))
from engine.cli import main
sys.argv = ["gradcam-batch", *sys.argv[1:]]
main()
'''


def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path):
    """1,000 vs 10,000 images through the streaming loader into a cache folder: the per-image results
    (~5 KB an image here, 45 MB more for the larger run if they were held in memory) never pile up."""
    (tmp_path / "tiny.py").write_text(TINY_MODEL)
    (tmp_path / "measure.py").write_text(MEASURE)
    sys.path.insert(0, str(tmp_path))
    try:
        import tiny  # type: ignore[import-not-found]

        torch.manual_seed(0)
        torch.save(tiny.build().state_dict(), tmp_path / "tiny.pth")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tiny", None)
    rng = np.random.default_rng(0)
    peaks = {}
    for n in (1000, 10000):
        data = _arrays(tmp_path / f"a{n}", rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8), num_classes=10)
        proc = subprocess.run(
            [sys.executable, str(tmp_path / "measure.py"), "run", "--data", str(data), "--model", f"{tmp_path / 'tiny.py'}:build",
             "--checkpoint", str(tmp_path / "tiny.pth"), "--target-layer", "1", "--cache-format", "folder",
             "--no-reports", "--device", "cpu", "--out", str(tmp_path / f"out{n}")],
            capture_output=True, text=True, cwd=ROOT, timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        peaks[n] = int(proc.stderr.split("MAXRSS_KB")[-1].split()[0]) / 1024
        assert load_cache(tmp_path / f"out{n}" / "cache").num_images == n
    assert peaks[10000] - peaks[1000] < 15, peaks  # MB


def test_a_refused_folder_write_is_one_sentence_and_keeps_the_previous_cache(tmp_path, small_cache, monkeypatch):
    from engine.atomic import WriteFailed

    target = save_cache_folder(small_cache, tmp_path / "cache")

    def full(fd, data, pos):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_folder.os, "pwrite", full)
    with pytest.raises(WriteFailed, match=r"Could not write the cache folder .*cache: No space left on device; the previous cache is unchanged"):
        save_cache_folder(small_cache, target)
    monkeypatch.undo()
    assert load_cache(target).num_images == small_cache.num_images
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]
