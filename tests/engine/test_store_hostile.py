""".npy headers, caches and output folders from strangers, at the store: a header is checked against the bytes
held before anything is allocated; what killed commands left behind is cleared by the next one; the
free-space preflight counts what it replaces; CSV cells cannot run as spreadsheet formulas."""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import engine.store.output_folder as output_folder_mod
from engine.errors import CacheError, UserError
from engine.reports.filenames import inside
from engine.reports.tables import to_csv_text
from engine.store import load_cache, save_cache
from engine.store.folder import open_member
from engine.store.npy import file_header, load_small
from engine.store.output_folder import check_output_folder, estimate_run_bytes, writing_into
from engine.store.written_files import WrittenFiles
from tests.synthetic import synthetic_cache


def _npy(header: bytes, data: bytes = b"") -> bytes:
    """A .npy file (format 1.0) with this header dictionary text, padded as numpy pads it."""
    body = header + b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + data


HEADER_TEXT = st.one_of(
    st.builds(lambda d, f, s: f"{{'descr': {d!r}, 'fortran_order': {f}, 'shape': {s!r}, }}".encode(),
              st.sampled_from(["<f4", "<i8", "|u1", "|b1", "O", "<U3", "|V0", "<c16", ">f8", "x"]),
              st.sampled_from(["False", "True", "1", "None"]),
              st.tuples() | st.lists(st.integers(-2, 2**45), max_size=4).map(tuple)),
    st.binary(max_size=80),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"{'descr': " * 5000),  # deep enough for the parser to give up
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADER_TEXT, data=st.binary(max_size=64))
@example(header=b"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 50912, 50912, 889589032), }", data=b"")
@example(header=b"{'descr': '|V0', 'fortran_order': False, 'shape': (101818, 101824, 889641454), }", data=b"")
def test_any_npy_header_is_a_correct_load_or_a_value_error(tmp_path, header, data):
    path = tmp_path / "m.npy"
    path.write_bytes(_npy(header, data))
    try:
        parsed = file_header(path)
    except ValueError as exc:
        assert "m.npy" in str(exc)
        return
    assert not parsed.dtype.hasobject and parsed.nbytes <= len(data)
    array = open_member(path)  # what the cache folder does with it
    assert array.shape == parsed.shape and array.dtype == parsed.dtype
    assert load_small(path).shape == parsed.shape


@pytest.fixture
def cache_file(tmp_path):
    path = tmp_path / "good.npz"
    save_cache(synthetic_cache(n_per_class=2, num_classes=4), path)
    return path


def _members(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _write_npz(path, members, raw=None, deflate=False):
    """An npz of these arrays, plus raw .npy bytes under their names (raw: {name: bytes})."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as zf:
        for name, value in members.items():
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(name + ".npy", buf.getvalue())
        for name, data in (raw or {}).items():
            zf.writestr(name + ".npy", data)
    return path


TERABYTES = _npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2000000000000,), }", b"\0" * 1024)


def test_a_member_claiming_8_tb_is_refused_before_allocating(tmp_path, cache_file):
    members = _members(cache_file)
    members.pop("cam_true")
    bad = _write_npz(tmp_path / "bad.npz", members, {"cam_true": TERABYTES})
    with pytest.raises(CacheError, match="member cam_true claims 8000000000000 bytes but holds 1024"):
        load_cache(bad)


def test_members_the_schema_does_not_name_are_never_read(tmp_path, cache_file):
    """An unused member, even one whose header lies about terabytes and that inflates to 50 MB, is skipped."""
    raw = {"extra_claims_8_tb": TERABYTES,
           "extra_50_mb": _npy(b"{'descr': '|u1', 'fortran_order': False, 'shape': (50000000,), }", bytes(50_000_000))}
    odd = _write_npz(tmp_path / "odd.npz", _members(cache_file), raw, deflate=True)
    assert os.path.getsize(odd) < 1_000_000
    assert load_cache(odd).num_images == 8


@pytest.mark.parametrize("change, expected", [
    ({"meta_json": np.array("[" * 200_000 + "]" * 200_000)}, "metadata is not a JSON object"),
    ("no images", "no images"),
    ("cams 0x0", "CAMs of no cells"),
], ids=["meta_json nested 200,000 deep", "0 images", "CAMs of shape (N, 0, 0)"])
def test_caches_that_would_crash_the_reports_are_refused_at_load(tmp_path, cache_file, change, expected):
    members = _members(cache_file)
    n, k = members["topk_classes"].shape
    if change == "no images":
        change = {m: members[m][:0] for m in ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk",
                                              "logits", "cam_contrast") if m in members}
    elif change == "cams 0x0":
        change = {"cam_true": np.zeros((n, 0, 0), np.float32), "cam_topk": np.zeros((n, k, 0, 0), np.float32)}
    members.update(change)
    with pytest.raises(CacheError, match=expected):
        load_cache(_write_npz(tmp_path / "bad.npz", members))


# --- output folders ------------------------------------------------------------------------------------


def test_a_killed_runs_temporary_cache_folder_is_cleared_by_the_next_command(tmp_path):
    out = tmp_path / "out"
    (out / ".cache.abcd1234.tmp").mkdir(parents=True)
    (out / ".cache.abcd1234.tmp" / "images.npy").write_bytes(b"\0" * 1000)
    (out / ".cache.npz.k3j4h5g6.tmp").write_bytes(b"half")
    (out / ".write-test-abcdefgh").write_bytes(b"")
    (out / ".cache.old-0123abcd").mkdir()  # a swap that never finished: the only copy of the cache
    (out / ".mine.tmp").write_text("the user's")  # not one of this tool's names
    (out / "notes.txt").write_text("keep")
    with writing_into(out):
        pass
    assert sorted(p.name for p in out.iterdir()) == [".mine.tmp", "cache", "notes.txt"]


def test_the_free_space_check_counts_the_files_a_rerun_replaces(tmp_path, monkeypatch):
    writes = estimate_run_bytes(10_000, 32, 32, 100)
    assert 50e6 < writes.cache < 60e6 and 30e6 < writes.reports < 40e6  # measured (ResNet-56): 57.1 MB + 34.3 MB
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=50 * 1024 * 1024))
    with pytest.raises(UserError, match=r"has 50.0 MiB free but this run writes about 8\d\.\d MiB; free some space"):
        check_output_folder(tmp_path, writes)
    # the same run again, over an earlier run's 30 MiB of reports: each replaces its namesake as it is
    # written, so only the cache (written beside the old one) and the files in flight need room
    (tmp_path / "report.html").write_bytes(b"\0" * (30 << 20))
    record = WrittenFiles.load(tmp_path)
    record.record(tmp_path / "report.html")
    record.save()
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=68 * 1024 * 1024))
    check_output_folder(tmp_path, writes)  # 88 MiB written, but at most 66 MiB more at once
    monkeypatch.setattr(output_folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=40 * 1024 * 1024))
    with pytest.raises(UserError, match=r"has 40.0 MiB free but this run needs about 65.9 MiB \(it writes about "
                                        r"8\d\.\d MiB, in place of 30.0 MiB an earlier run wrote there\)"):
        check_output_folder(tmp_path, writes)


def test_a_report_name_that_is_a_symlink_is_replaced_not_followed(tmp_path):
    (tmp_path / "elsewhere.txt").write_text("mine")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "recommendations.txt").symlink_to(tmp_path / "elsewhere.txt")
    assert inside(tmp_path / "out", "recommendations.txt") == (tmp_path / "out").resolve() / "recommendations.txt"
    for bad in ("../x.txt", "a/b.txt", "..", ""):
        with pytest.raises(ValueError):
            inside(tmp_path / "out", bad)


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_csv_cells_that_a_spreadsheet_would_run_are_prefixed(name):
    text = to_csv_text(pd.DataFrame({"class_name": [name, "cat"], "accuracy": [-0.5, 1.0]}))
    rows = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert rows["class_name"].tolist() == ["'" + name, "cat"]
    assert rows["accuracy"].tolist() == [-0.5, 1.0]  # numbers are not text: unchanged
