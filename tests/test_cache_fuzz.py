"""Property-based fuzzing of the cache loader: truncated, bit-flipped and wrong-schema files always give a
CacheError (one clear sentence), never another exception, and never unpickle anything."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cache import CacheError, RunCache, load_cache, save_cache
from tests.synthetic import synthetic_cache

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    path = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path_factory.mktemp("fz") / "c.npz")
    return path.read_bytes()


def _load(tmp_path, data: bytes, name: str = "c.npz"):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        return load_cache(path)
    except CacheError as exc:
        text = str(exc)
        assert "\n" not in text and ("gradcam-batch" in text or "gradcam-tui" in text)
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
    result = _load(tmp_path, bytes(data))
    assert result is None or isinstance(result, RunCache)


MEMBER_VALUES = st.one_of(
    st.builds(np.array, st.integers(-5, 5)),
    st.builds(lambda n: np.zeros((n,), dtype=np.float32), st.integers(0, 5)),
    st.builds(lambda n: np.full((n, 2), -1, dtype=np.int64), st.integers(0, 5)),
    st.builds(lambda s: np.array(s), st.text(max_size=20)),
    st.just(np.zeros((0, 0, 0, 0), dtype=np.uint8)),
)
MEMBERS = ["schema_version", "meta_json", "class_names", "superclass_names", "class_to_superclass", "images",
           "labels", "probs", "topk_classes", "cam_true", "cam_topk", "confusion", "worst_idx", "worst_kind",
           "best_idx", "masks", "logits", "suspect_image", "suspect_class"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(MEMBERS), st.one_of(st.none(), MEMBER_VALUES), min_size=1, max_size=4))
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
    result = _load(tmp_path, buf.getvalue())
    assert result is None or isinstance(result, RunCache)


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
