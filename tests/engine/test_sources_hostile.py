"""Data sets from strangers, at the loader: every meta.json, label file and image folder either loads as
what it says or is one UserError naming the file, before the pass (no model needed to show it)."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import UserError
from engine.sources import open_source
from engine.sources.arrays import open_arrays
from engine.sources.image_folder import open_image_folder
from engine.sources.meta import read_meta

NAMES = [f"c{i}" for i in range(10)]
COARSE = {"fine_label_names": NAMES, "coarse_label_names": ["a", "b"]}

META_CASES = {
    "a list": ("[]", "holds a list, not a JSON object"),
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "names as a string": (json.dumps({"fine_label_names": "x" * 100}), "must be a list of names (strings), but it is a string"),
    "names of numbers": (json.dumps({"fine_label_names": list(range(10))}), "a list with a number in it"),
    "names twice": (json.dumps({"fine_label_names": ["a", "a"]}), "names 'a' twice"),
    "no names": (json.dumps({"other": 1}), "has no 'fine_label_names'"),
    "fine_to_coarse of strings": (json.dumps({**COARSE, "fine_to_coarse": ["0"] * 10}), "entry 0 is \"0\""),
    "fine_to_coarse too short": (json.dumps({**COARSE, "fine_to_coarse": [0] * 5}), "has 5 entries but there are 10 classes"),
    "fine_to_coarse out of range": (json.dumps({**COARSE, "fine_to_coarse": [5] * 10}), "gives class 0 the superclass 5"),
    "fine_to_coarse negative": (json.dumps({**COARSE, "fine_to_coarse": [-1] * 10}), "gives class 0 the superclass -1"),
    "fine_to_coarse without names": (json.dumps({"fine_label_names": NAMES, "fine_to_coarse": [0] * 10}),
                                     "no 'coarse_label_names'"),
    "not JSON": ("{", "is not valid JSON"),
    "not UTF-8": (b"\xff\xfe{".decode("latin-1"), "is not valid JSON"),
}


@pytest.mark.parametrize("text, expected", list(META_CASES.values()), ids=list(META_CASES))
def test_a_bad_meta_json_is_one_sentence_naming_the_field(arrays_folder, tmp_path, text, expected):
    folder = arrays_folder(tmp_path / "d")
    (folder / "meta.json").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match="meta.json") as err:
        open_arrays(folder)
    assert expected in str(err.value)


LABEL_CASES = {
    "0-d": (np.array(3), "in shape (); expected one label per image"),
    "shaped (20, 1)": ((np.arange(20) % 10).reshape(20, 1), "in shape (20, 1)"),
    "float 69.7-like": (np.arange(20) % 10 + 0.7, "not whole numbers (image 0: 0.7)"),
    "NaN": (np.full(20, np.nan), "NaN or infinite"),
    "strings": (np.array(["1"] * 20), "as <U1; expected integer class indices"),
    "too few": (np.arange(5), "has 20 images but labels of shape (5,)"),
    "out of range": (np.arange(20), "range over 0..19, but there are 10 class names"),
}


@pytest.mark.parametrize("labels, expected", list(LABEL_CASES.values()), ids=list(LABEL_CASES))
def test_bad_labels_are_refused_with_what_the_file_holds(arrays_folder, tmp_path, labels, expected):
    folder = arrays_folder(tmp_path / "d", labels=labels)
    with pytest.raises(UserError) as err:
        open_arrays(folder)
    assert expected in str(err.value)
    assert "-9223372036854775808" not in str(err.value)


def test_float_labels_that_are_whole_numbers_are_read_as_those_classes(arrays_folder, tmp_path):
    folder = arrays_folder(tmp_path / "d", labels=(np.arange(20) % 10).astype(np.float64))
    assert open_arrays(folder).labels.tolist() == (np.arange(20) % 10).tolist()


@pytest.mark.parametrize("coarse, expected", [
    (np.zeros(5, dtype=np.int64), "holds 5 superclass labels but there are 20 images"),
    (b"\x93NUMPY garbage", "damaged .npy header"),
    (np.full(20, 7), "range over 7..7, but there are 2 superclass names"),
    (np.arange(20) // 10, "puts class 0 in two superclasses"),
], ids=["wrong length", "garbage", "out of range", "a class in two superclasses"])
def test_bad_superclass_label_files_are_refused(arrays_folder, tmp_path, coarse, expected):
    folder = arrays_folder(tmp_path / "d")
    (folder / "meta.json").write_text(json.dumps(COARSE))
    if isinstance(coarse, bytes):
        (folder / "test_coarse_labels.npy").write_bytes(coarse)
    else:
        np.save(folder / "test_coarse_labels.npy", coarse)
    with pytest.raises(UserError, match="test_coarse_labels.npy") as err:
        open_arrays(folder)
    assert expected in str(err.value)


def test_a_label_file_claiming_terabytes_is_refused_before_reading(arrays_folder, tmp_path):
    folder = arrays_folder(tmp_path / "d")
    path = folder / "test_fine_labels.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, dtype=np.int64))
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {**header, "shape": (10**12,)})
        fh.write(b"\0" * 160)
    with pytest.raises(UserError, match="claims 8000000000000 bytes of data but holds 160"):
        open_arrays(folder)


def test_a_symlink_loop_in_a_class_folder_counts_each_image_once(image_folder, tmp_path):
    root = image_folder(tmp_path / "imgs", classes=("ant", "bee"), per_class=3)
    os.symlink("../ant", root / "ant" / "again")  # ant/again/again/... is ant itself
    os.symlink(str(root / "bee"), root / "bee" / "loop")
    data = open_image_folder(root, None)
    assert len(data) == 6 and np.bincount(data.labels).tolist() == [3, 3]
    assert data.class_names == ["ant", "bee"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG with a real IHDR chunk claiming width x height and one empty IDAT: enough for PIL to open."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("position", ["first", "later"])
def test_a_decompression_bomb_png_is_one_sentence(image_folder, tmp_path, position):
    root = image_folder(tmp_path / "imgs", classes=("ant", "bee"), per_class=2)
    name = "0.png" if position == "first" else "zz.png"
    (root / ("ant" if position == "first" else "bee") / name).write_bytes(_png_header(30000, 30000))
    with pytest.raises(UserError, match="decompression bomb"):
        data = open_image_folder(root, None)
        data.images.read(0, len(data))


@pytest.mark.parametrize("spec, expected", [
    ("", "--data is empty"),
    ("~nouser_gradcam_x/data", "~nouser_gradcam_x is not a user on this machine"),
    ("/tmp/" + "x" * 300, "file name too long"),
], ids=["empty", "unknown user", "name too long"])
def test_data_paths_that_cannot_be_a_folder_are_one_sentence(spec, expected):
    with pytest.raises(UserError) as err:
        open_source(spec)
    assert expected in str(err.value)


# --- property: any meta.json document is a correct load or one sentence ---------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)
FIELDS = st.sampled_from(["fine_label_names", "class_names", "coarse_label_names", "fine_to_coarse", "other"])
DOCS = JSON | st.dictionaries(FIELDS, JSON | st.lists(st.text(max_size=3), max_size=12)
                              | st.lists(st.integers(-1, 3), min_size=10, max_size=10), max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_any_meta_json_loads_correctly_or_is_one_sentence(tmp_path, doc):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    try:
        meta = read_meta(path)
    except UserError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    key = "fine_label_names" if "fine_label_names" in doc else "class_names"
    assert meta.names == doc[key] and all(isinstance(n, str) for n in meta.names)
    assert len(set(meta.names)) == len(meta.names)
    if meta.fine_to_coarse is not None:
        assert meta.fine_to_coarse.tolist() == doc["fine_to_coarse"]
        assert len(meta.fine_to_coarse) == len(meta.names)
        assert 0 <= meta.fine_to_coarse.min() and meta.fine_to_coarse.max() < len(meta.coarse_names)


def test_a_cifar_root_with_damaged_files_names_the_flag_not_the_python_argument(tmp_path):
    (tmp_path / "cifar-100-python").mkdir()
    for name in ("test", "meta"):
        (tmp_path / "cifar-100-python" / name).write_bytes(b"not the data set")
    with pytest.raises(UserError) as err:
        open_source(str(tmp_path))
    assert str(err.value) == (f"CIFAR-100 at {tmp_path} could not be read: Dataset not found or corrupted. You can "
                              "pass --download to download it.")


def test_a_decompression_bomb_read_in_a_dataloader_worker_is_the_same_sentence(image_folder, tmp_path):
    from engine.sources.loader import iterate_batches

    root = image_folder(tmp_path / "imgs", classes=("ant", "bee"), per_class=2)
    (root / "bee" / "zz.png").write_bytes(_png_header(30000, 30000))
    data = open_image_folder(root, None)
    with pytest.raises(UserError, match="zz.png is refused: its header claims more pixels than PIL decodes"):
        list(iterate_batches(data.images, data.labels, [(0, 2), (2, 5)], display_size=64, workers=1,
                             pin_memory=False))
