"""The cache as a folder of .npy files (engine.store.folder): memory-mapped round trip, rows written at their
offsets, atomic publishing, one-sentence errors; and the cache a path means (resolve_cache_path)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import engine.store.folder as folder_mod
from engine.analysis.analysed_run import AnalysedRun
from engine.errors import CacheError, WriteFailed
from engine.store import load_cache, resolve_cache_path, save_cache
from engine.store.folder import FolderCacheWriter, has_manifest, is_cache_folder
from tests.synthetic import with_any_class


def test_folder_cache_round_trip_is_memory_mapped(tmp_path, small_cache):
    small_cache = with_any_class(small_cache)
    path = save_cache(small_cache, tmp_path / "cache")
    assert is_cache_folder(path) and has_manifest(path)
    loaded = load_cache(path)
    for name in ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "masks", "logits",
                 "cam_contrast", "features", "cam_activations"):
        assert isinstance(getattr(loaded, name), np.memmap), name
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_cache, name))
    assert loaded.meta == small_cache.meta and loaded.class_names == small_cache.class_names
    assert loaded.superclass_names == small_cache.superclass_names
    np.testing.assert_array_equal(AnalysedRun(loaded).selections.worst_idx,
                                  AnalysedRun(small_cache).selections.worst_idx)
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
    with FolderCacheWriter(tmp_path / "c", 10) as w:
        w.write_rows("x", 6, np.arange(6, 10, dtype=np.float32)[:, None] * [1, 2])
        w.write_rows("x", 0, np.arange(0, 6, dtype=np.float32)[:, None] * [1, 2])
        got = w.rows_written()["x"]
        np.testing.assert_array_equal(got, np.arange(10, dtype=np.float32)[:, None] * [1, 2])
    assert list(tmp_path.iterdir()) == []  # left without publishing: the temporary folder is gone


def test_interrupted_folder_write_leaves_the_previous_cache(tmp_path, small_cache, monkeypatch):
    target = save_cache(small_cache, tmp_path / "cache")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def explode(self, start, values):
        raise KeyboardInterrupt

    monkeypatch.setattr(folder_mod.NpyWriter, "write", explode)
    with pytest.raises(KeyboardInterrupt):
        save_cache(small_cache, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # no temporary folder left behind


def test_interrupted_swap_puts_the_previous_cache_back(tmp_path, small_cache, monkeypatch):
    target = save_cache(small_cache, tmp_path / "cache")
    before = sorted(p.name for p in target.iterdir())
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder into place: killed right there
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(folder_mod.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        save_cache(small_cache, target)
    monkeypatch.setattr(folder_mod.os, "rename", real_rename)
    assert len(calls) == 3 and calls[2] == (calls[0][1], target)  # aside, then back into place
    assert sorted(p.name for p in target.iterdir()) == before
    assert load_cache(target).num_images == small_cache.num_images
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_republishing_replaces_the_folder(tmp_path, small_cache, make_cache):
    save_cache(small_cache, tmp_path / "cache")
    other = make_cache(n_per_class=3)
    save_cache(other, tmp_path / "cache")
    assert load_cache(tmp_path / "cache").num_images == other.num_images
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_a_refused_folder_write_is_one_sentence_and_keeps_the_previous_cache(tmp_path, small_cache, monkeypatch):
    target = save_cache(small_cache, tmp_path / "cache")

    def full(fd, data, pos):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder_mod.os, "pwrite", full)
    with pytest.raises(WriteFailed, match=r"Could not write the cache folder .*cache: No space left on device; "
                                          r"the previous cache is unchanged"):
        save_cache(small_cache, target)
    monkeypatch.undo()
    assert load_cache(target).num_images == small_cache.num_images
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def _edit_member(folder: Path, name: str, array: np.ndarray) -> None:
    np.save(folder / f"{name}.npy", array)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["members"][name] = {"dtype": np.lib.format.dtype_to_descr(array.dtype), "shape": list(array.shape)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("version", "reads versions 1, 2; upgrade gradcam-tui"),
        ("truncated", "could not be read as a gradcam cache folder"),
        ("manifest shape", "the manifest says"),
        ("labels range", "labels out of range"),
        ("missing member", "missing probs"),
        ("image count", "manifest.json's image count disagrees with labels.npy"),
        ("foreign manifest", "could not be read as a gradcam cache folder"),
    ],
    ids=["version", "truncated", "manifest-shape", "labels-range", "missing-member", "image-count", "foreign-manifest"],
)
def test_damaged_cache_folders_are_one_sentence(tmp_path, small_cache, damage, expected):
    folder = save_cache(small_cache, tmp_path / "cache")
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
    elif damage == "image count":
        manifest["num_images"] += 1
        (folder / "manifest.json").write_text(json.dumps(manifest))
    else:
        (folder / "manifest.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CacheError, match=expected):
        load_cache(folder)


def test_members_the_schema_does_not_name_are_never_opened(tmp_path, small_cache):
    """A version-1 folder's stored confusion matrix (of any shape, even an unreadable file) is ignored:
    what is shown is computed from the per-image arrays."""
    folder = save_cache(small_cache, tmp_path / "cache")
    c = small_cache.num_classes
    _edit_member(folder, "confusion", np.zeros((c, c + 1), dtype=np.int64))
    (folder / "worst_idx.npy").write_bytes(b"not an npy file")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["members"]["worst_idx"] = {"dtype": "<i8", "shape": [c, 5]}
    manifest["schema_version"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    loaded = AnalysedRun(load_cache(folder))
    np.testing.assert_array_equal(loaded.metrics.confusion, AnalysedRun(small_cache).metrics.confusion)


def test_a_folder_that_is_not_a_cache_is_named(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "notes.txt").write_text("mine")
    with pytest.raises(CacheError, match="is a folder, not a cache file"):
        load_cache(tmp_path / "cache")


def test_the_cache_a_path_means(tmp_path, small_cache):
    out = tmp_path / "gradcam_results"
    folder = save_cache(small_cache, out / "cache")
    assert resolve_cache_path(out) == folder  # an output folder
    assert resolve_cache_path(out / "cache.npz") == folder  # the default name, written as a folder
    assert resolve_cache_path(folder) == folder
    save_cache(small_cache, out / "cache.npz")
    os.utime(folder, (1, 1))
    assert resolve_cache_path(out) == out / "cache.npz"  # the newer of the two
    assert resolve_cache_path(tmp_path / "absent.npz") == tmp_path / "absent.npz"
