"""The cache contract as one .npz (engine.store, engine.store.npz): round trip, atomic writes, versioning,
validation, no pickle."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import engine.store.npz as npz_mod
from engine.analysis.analysed_run import AnalysedRun
from engine.errors import CacheError
from engine.store import SCHEMA_VERSION, load_cache, save_cache
from engine.store.schema import FAITHFULNESS, MEMBERS
from tests.conftest import rewrite_npz
from tests.synthetic import with_any_class

ANY_CLASS = ("features", "cam_activations", "cam_all", "cam_all_scale", "head_weights")  # optional: what a linear-head run adds
V1_DERIVED = ("confusion", "worst_idx", "worst_kind", "best_idx", "suspect_image", "suspect_class")


def _members(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_round_trip_keeps_everything(tmp_path, small_cache):
    path = save_cache(small_cache, tmp_path / "cache.npz")
    loaded = load_cache(path)
    for name in ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "masks", "class_to_superclass",
                 "logits", "cam_contrast"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_cache, name))
    assert loaded.class_names == small_cache.class_names
    assert loaded.superclass_names == small_cache.superclass_names
    assert loaded.meta == small_cache.meta
    assert AnalysedRun(loaded).metrics.top1 == AnalysedRun(small_cache).metrics.top1


def test_the_cache_holds_the_schemas_members_and_nothing_derived(small_cache_file, small_cache, tmp_path):
    """The confusion matrix, the selections and the label suspects are computed from the stored arrays,
    never stored (a cache cannot disagree with itself). Any class's maps are stored in one of two forms."""
    stored = set(_members(small_cache_file))
    only = set(ANY_CLASS) | {"probs_plain"} | set(FAITHFULNESS)  # what only some runs write (linear head, --tta, --faithfulness)
    assert stored == {m.name for m in MEMBERS} - only
    assert not stored & set(V1_DERIVED)
    for kind, left_out in (("activations", {"cam_all", "cam_all_scale"}), ("maps", {"cam_activations"})):
        path = save_cache(with_any_class(small_cache, kind), tmp_path / f"{kind}.npz")
        left = left_out | {"head_weights"} if kind == "maps" else left_out
        assert set(_members(path)) == {m.name for m in MEMBERS} - left - {"probs_plain"} - set(FAITHFULNESS)


def test_members_are_plain_arrays_without_pickle(small_cache_file):
    with np.load(small_cache_file, allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object
        assert int(npz["schema_version"]) == SCHEMA_VERSION == 2
        assert json.loads(str(npz["meta_json"]))["cam_method"] == "gradcam"


def test_per_image_members_are_memory_mapped(small_cache_file):
    """Opening a run costs reading its headers: the engine's uncompressed members are mapped, not read."""
    loaded = load_cache(small_cache_file)
    for name in ("images", "probs", "cam_true", "cam_topk"):
        assert isinstance(getattr(loaded, name), np.memmap), name


def test_interrupted_write_leaves_previous_file(tmp_path, small_cache, monkeypatch):
    path = save_cache(small_cache, tmp_path / "cache.npz")
    before = path.read_bytes()

    def explode(fh, **members):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(npz_mod.np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        save_cache(small_cache, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]


@pytest.mark.parametrize(
    "version, expected",
    [(SCHEMA_VERSION + 1, "reads versions 1, 2; upgrade gradcam-tui"), (0, "reads versions 1, 2; re-create it")],
    ids=["newer", "older"],
)
def test_other_schema_versions_say_what_to_do(small_cache_file, version, expected):
    rewrite_npz(small_cache_file, schema_version=np.array(version))
    with pytest.raises(CacheError, match=expected):
        load_cache(small_cache_file)


def test_a_version_1_cache_is_read_and_its_derived_members_are_ignored(small_cache, small_cache_file):
    """Version 1 stored the confusion matrix, the selections and the suspects: they are never read, so even
    wrong ones change nothing."""
    c = small_cache.num_classes
    rewrite_npz(small_cache_file, schema_version=np.array(1), confusion=np.zeros((c, c + 1), dtype=np.int64),
             worst_idx=np.full((c, 5), 10**6, dtype=np.int64), worst_kind=np.zeros((c, 5), dtype=np.int8),
             best_idx=np.full((c, 3), -7, dtype=np.int64), suspect_image=np.array([0, 1], dtype=np.int64),
             suspect_class=np.array([5], dtype=np.int64))
    run = AnalysedRun(load_cache(small_cache_file))
    expected = AnalysedRun(small_cache)
    np.testing.assert_array_equal(run.metrics.confusion, expected.metrics.confusion)
    np.testing.assert_array_equal(run.selections.worst_idx, expected.selections.worst_idx)
    assert list(run.suspects["image"]) == list(expected.suspects["image"])


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"probs": None}, "missing probs"),
        ({"labels": np.array([99] * 96)}, "labels out of range"),
        ({"topk_classes": np.full((96, 5), 8, dtype=np.int64)}, "top-k classes out of range"),
        ({"meta_json": np.array("{not json")}, "metadata is not a JSON object"),
        ({"meta_json": np.array("[1, 2]")}, "metadata is not a JSON object"),
        ({"cam_topk": np.zeros((3, 2), dtype=np.float32)}, "top-k CAMs"),
        ({"probs": np.zeros((96, 7), dtype=np.float32)}, "probabilities"),
        ({"class_to_superclass": np.full(8, 5, dtype=np.int64)}, "superclass table out of range"),
        ({"masks": np.zeros((96, 16, 16), dtype=bool)}, "masks"),
        ({"class_names": np.array([], dtype=np.str_)}, "no class names"),
        ({"cam_contrast": np.zeros((96, 4, 4), dtype=np.float32)}, "contrastive CAMs"),
        ({"cam_contrast": np.zeros((96, 8, 8), dtype=np.int64)}, "contrastive CAMs"),
    ],
    ids=["missing-member", "labels-range", "topk-range", "meta-not-json", "meta-not-object", "topk-cams-shape",
         "probs-shape", "superclass-range", "masks-shape", "no-classes", "contrast-shape", "contrast-dtype"],
)
def test_inconsistent_members_are_named(small_cache_file, change, expected):
    rewrite_npz(small_cache_file, **change)
    with pytest.raises(CacheError, match=expected):
        load_cache(small_cache_file)


def test_a_member_claiming_more_bytes_than_it_holds_is_refused_before_allocating(tmp_path, small_cache_file):
    """A .npy header inside the archive that declares a huge array over a few bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10**9, 8)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(small_cache_file) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            data = header.getvalue() + b"\0" * 64 if item == "probs.npy" else src.read(item)
            dst.writestr(item, data)
    with pytest.raises(CacheError, match="member probs claims 32000000000 bytes but holds 64"):
        load_cache(path)


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
    with pytest.raises(CacheError, match="No cache at"):
        load_cache(tmp_path / ("x" * 300 + ".npz"))  # a name too long for the file system


def test_pickled_member_is_never_unpickled(tmp_path, small_cache_file, code_running_pickle):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(small_cache_file) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            if item != "probs.npy":
                dst.writestr(item, src.read(item))
        buf = io.BytesIO()
        np.save(buf, np.array([code_running_pickle(tmp_path / "PWNED")], dtype=object), allow_pickle=True)
        dst.writestr("probs.npy", buf.getvalue())
    with pytest.raises(CacheError, match="could not be read"):
        load_cache(path)
    assert not (tmp_path / "PWNED").exists()


def test_cam_lookup_by_class(small_cache):
    i = 13  # a class-1 image
    assert int(small_cache.labels[i]) == 1
    np.testing.assert_array_equal(small_cache.cam_for(i, 1), small_cache.cam_true[i])
    pred = int(small_cache.topk_classes[i, 0])
    if pred != 1:
        np.testing.assert_array_equal(small_cache.cam_for(i, pred), small_cache.cam_topk[i, 0])
    third = int(small_cache.topk_classes[i, 2])
    if third != 1:
        np.testing.assert_array_equal(small_cache.cam_for(i, third), small_cache.cam_topk[i, 2])
    held = {1, *map(int, small_cache.topk_classes[i])}
    absent = next(c for c in range(small_cache.num_classes) if c not in held)
    assert small_cache.cam_for(i, absent) is None


def test_written_files_get_the_usual_permissions(tmp_path, small_cache):
    old = os.umask(0o022)
    try:
        path = save_cache(small_cache, tmp_path / "cache.npz")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: caches and reports get shared
