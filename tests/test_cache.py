"""The cache contract: round trip, atomic writes, versioning, validation, no pickle."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import engine.cache as cache_mod
from engine.cache import SCHEMA_VERSION, CacheError, load_cache, save_cache


def test_round_trip_keeps_everything(tmp_path, small_cache):
    path = save_cache(small_cache, tmp_path / "cache.npz")
    loaded = load_cache(path)
    for name in ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "masks", "class_to_superclass", "logits"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_cache, name))
    assert loaded.class_names == small_cache.class_names
    assert loaded.superclass_names == small_cache.superclass_names
    assert loaded.meta == small_cache.meta
    assert loaded.analysis.top1 == small_cache.analysis.top1


def test_ranked_label_suspects_are_stored(small_cache, small_cache_file):
    with np.load(small_cache_file, allow_pickle=False) as npz:
        stored = npz["suspect_image"]
    assert stored.tolist() == small_cache.diagnostics.suspects["image"].tolist() and len(stored) > 0


def test_members_are_plain_arrays_without_pickle(small_cache_file):
    with np.load(small_cache_file, allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object
        assert int(npz["schema_version"]) == SCHEMA_VERSION
        assert json.loads(str(npz["meta_json"]))["cam_method"] == "gradcam"


def test_interrupted_write_leaves_previous_file(tmp_path, small_cache, monkeypatch):
    path = save_cache(small_cache, tmp_path / "cache.npz")
    before = path.read_bytes()

    def explode(fh, **members):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        save_cache(small_cache, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    members.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        members.pop(k)
    np.savez(path, **members)


@pytest.mark.parametrize(
    "version, expected",
    [(SCHEMA_VERSION + 1, "upgrade gradcam-tui"), (0, "re-create it")],
)
def test_other_schema_versions_say_what_to_do(small_cache_file, version, expected):
    _rewrite(small_cache_file, schema_version=np.array(version))
    with pytest.raises(CacheError, match=expected):
        load_cache(small_cache_file)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"probs": None}, "missing probs"),
        ({"labels": np.array([99] * 96)}, "labels out of range"),
        ({"meta_json": np.array("{not json")}, "metadata is not JSON"),
        ({"confusion": np.zeros((8, 8), dtype=np.int64)}, "stored confusion disagrees"),
        ({"cam_topk": np.zeros((3, 2), dtype=np.float32)}, "top-k CAMs"),
        ({"suspect_image": np.array([0, 1], dtype=np.int64)}, "stored label suspects disagree"),
    ],
)
def test_inconsistent_members_are_named(small_cache_file, change, expected):
    _rewrite(small_cache_file, **change)
    with pytest.raises(CacheError, match=expected):
        load_cache(small_cache_file)


def test_missing_garbage_and_truncated_files(tmp_path, small_cache_file):
    with pytest.raises(CacheError, match="No cache at .*gradcam-batch run"):
        load_cache(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"hello")
    with pytest.raises(CacheError, match="could not be read"):
        load_cache(garbage)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(small_cache_file.read_bytes()[:5000])
    with pytest.raises(CacheError):
        load_cache(truncated)
    with pytest.raises(CacheError, match="is a folder"):
        load_cache(tmp_path)


def test_pickled_member_is_never_unpickled(tmp_path, small_cache_file):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(small_cache_file) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            if item != "probs.npy":
                dst.writestr(item, src.read(item))
        buf = __import__("io").BytesIO()
        np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
        dst.writestr("probs.npy", buf.getvalue())
    with pytest.raises(CacheError, match="could not be read"):
        load_cache(path)


def test_cam_lookup_by_class(small_cache):
    i = 13  # a class-1 image
    assert small_cache.cam_classes(i)[0] == 1
    np.testing.assert_array_equal(small_cache.cam_for(i, 1), small_cache.cam_true[i])
    pred = int(small_cache.topk_classes[i, 0])
    if pred != 1:
        np.testing.assert_array_equal(small_cache.cam_for(i, pred), small_cache.cam_topk[i, 0])
    absent = next(c for c in range(small_cache.num_classes) if c not in small_cache.cam_classes(i))
    assert small_cache.cam_for(i, absent) is None


def test_written_files_get_the_usual_permissions(tmp_path, small_cache):
    import os

    old = os.umask(0o022)
    try:
        path = save_cache(small_cache, tmp_path / "cache.npz")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: caches and reports get shared
