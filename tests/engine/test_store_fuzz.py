"""Property-based fuzzing of both cache loaders: truncated, bit-flipped and wrong-schema files (a .npz) or
members (a cache folder) always give a CacheError (one clear sentence), never another exception; nothing
is ever unpickled; and what a loader accepts can be analysed."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.analysis.analysed_run import AnalysedRun
from engine.errors import CacheError
from engine.store import RunCache, load_cache, save_cache
from engine.store.schema import MEMBERS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FOLDER_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# the members of version 2 and the derived ones version 1 stored as well (still present in old caches)
MEMBER_NAMES = [m.name for m in MEMBERS] + ["confusion", "worst_idx", "worst_kind", "best_idx", "suspect_image",
                                            "suspect_class"]


def _accepted(cache: RunCache) -> RunCache:
    """What every reader computes first must not fail on what the loader accepted."""
    assert isinstance(cache, RunCache)
    AnalysedRun(cache).metrics
    return cache


def _one_sentence(exc: CacheError) -> None:
    text = str(exc)
    assert "\n" not in text and ("gradcam-batch" in text or "gradcam-tui" in text), text


# --- cache.npz --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    from tests.synthetic import synthetic_cache

    path = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path_factory.mktemp("fz") / "c.npz")
    return path.read_bytes()


def _load(tmp_path, data: bytes, name: str = "c.npz"):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        return _accepted(load_cache(path))
    except CacheError as exc:
        _one_sentence(exc)
        return None


@FUZZ
@given(cut=st.floats(0.0, 1.0))
def test_truncated_files(tmp_path, good_bytes, cut):
    assert _load(tmp_path, good_bytes[: int(len(good_bytes) * cut)]) is None or cut == 1.0


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0.0, 0.9999), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flipped_files(tmp_path, good_bytes, flips):
    data = bytearray(good_bytes)
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _load(tmp_path, bytes(data))


MEMBER_VALUES = st.one_of(
    st.builds(np.array, st.integers(-5, 5)),
    st.builds(lambda n: np.zeros((n,), dtype=np.float32), st.integers(0, 5)),
    st.builds(lambda n: np.full((n, 2), -1, dtype=np.int64), st.integers(0, 5)),
    st.builds(lambda s: np.array(s), st.text(max_size=20)),
    st.just(np.zeros((0, 0, 0, 0), dtype=np.uint8)),
)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(MEMBER_NAMES), st.one_of(st.none(), MEMBER_VALUES), min_size=1,
                               max_size=4))
def test_wrong_schema_members(tmp_path, good_bytes, changes):
    with np.load(io.BytesIO(good_bytes), allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    for name, value in changes.items():
        if value is None:
            members.pop(name, None)
        else:
            members[name] = value
    buf = io.BytesIO()
    np.savez(buf, **members)
    _load(tmp_path, buf.getvalue())


class Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED_BY_CACHE', 'w').close()",))


def test_a_pickled_member_never_runs(tmp_path, good_bytes, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with np.load(io.BytesIO(good_bytes), allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    members["meta_json"] = np.array([Boom()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **members)
    assert _load(tmp_path, buf.getvalue()) is None
    assert not (tmp_path / "PWNED_BY_CACHE").exists()


# --- cache/ (the folder form) -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_files(tmp_path_factory) -> dict[str, bytes]:
    from tests.synthetic import synthetic_cache

    folder = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path_factory.mktemp("ff") / "c")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _load_folder(tmp_path: Path, files: dict[str, bytes]):
    folder = tmp_path / "cache"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    try:
        return _accepted(load_cache(folder))
    except CacheError as exc:
        _one_sentence(exc)
        return None


@FOLDER_FUZZ
@given(data=st.data())
def test_cache_folder_with_a_truncated_or_missing_member(tmp_path, folder_files, data):
    name = data.draw(st.sampled_from(sorted(folder_files)))
    files = dict(folder_files)
    if data.draw(st.booleans()):
        del files[name]
    else:
        files[name] = files[name][: data.draw(st.integers(0, len(files[name]) - 1))]
    assert _load_folder(tmp_path, files) is None or name not in ("manifest.json", "labels.npy", "images.npy")


def _npy_data_start(blob: bytes) -> int:
    """Offset of a .npy file's array data (after magic, header length and header)."""
    if blob[6:7] == b"\x01":
        return 10 + int.from_bytes(blob[8:10], "little")
    return 12 + int.from_bytes(blob[8:12], "little")


@FOLDER_FUZZ
@given(data=st.data())
def test_cache_folder_with_flipped_bits(tmp_path, folder_files, data):
    """Bits flipped in the manifest and in the members' array data (headers: the test below)."""
    files = dict(folder_files)
    for _ in range(data.draw(st.integers(1, 6))):
        name = data.draw(st.sampled_from(sorted(files)))
        blob = bytearray(files[name])
        start = 0 if name == "manifest.json" else _npy_data_start(files[name])
        if len(blob) > start:
            blob[data.draw(st.integers(start, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        files[name] = bytes(blob)
    _load_folder(tmp_path, files)


@pytest.mark.parametrize("member", ["labels.npy", "probs.npy"])
def test_cache_folder_with_a_damaged_npy_header(tmp_path, folder_files, member):
    blob = folder_files[member]
    at = blob.index(b"'shape': (") + len(b"'shape': (") + 2  # inside the shape tuple: "(4, 3)" becomes "(4, 3("
    damaged = blob[:at] + b"(" + blob[at + 1:]
    assert _load_folder(tmp_path, dict(folder_files, **{member: damaged})) is None


def test_cache_folder_with_a_pickled_member_never_unpickles(tmp_path, folder_files, code_running_pickle):
    buf = io.BytesIO()
    np.save(buf, np.array([code_running_pickle(tmp_path / "PWNED_BY_FOLDER")], dtype=object), allow_pickle=True)
    files = dict(folder_files, **{"probs.npy": buf.getvalue()})
    assert _load_folder(tmp_path, files) is None
    assert not (tmp_path / "PWNED_BY_FOLDER").exists()
