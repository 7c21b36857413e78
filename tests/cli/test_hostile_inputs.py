"""Hostile inputs to `gradcam-batch` commands: flags, paths, data sets, caches and output folders that once
gave a traceback, a wrong result or a lost file. Each is now one sentence and exit 2 (the files already
in the output folder byte for byte), or a correct run. The loaders' own cases are in
tests/engine/test_sources_hostile.py and tests/engine/test_store_hostile.py; here is what the user sees."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.store import save_cache
from tests.cli.test_output_folder import mounted  # noqa: F401 - the fixture
from tests.conftest import files_in, rewrite_npz
from tests.synthetic import synthetic_cache, temporaries


@pytest.fixture
def cache_file(tmp_path) -> Path:
    path = tmp_path / "given" / "cache.npz"
    path.parent.mkdir()
    save_cache(synthetic_cache(n_per_class=4, num_classes=4), path)  # 16 images, 3 of them wrong
    return path


# --- run: flags and paths refused before the work ----------------------------------------------------------

FLAG_CASES = {
    "--std 0": (["--std", "0", "0", "0"], "--std 0.0 0.0 0.0: every value must be above 0."),
    "--std -1": (["--std", "-1", "1", "1"], "--std -1.0 1.0 1.0: every value must be above 0."),
    "--mean nan": (["--mean", "nan", "0", "0"], "--mean nan 0.0 0.0: every value must be a finite number."),
    "--mean inf": (["--mean", "inf", "0", "0"], "--mean inf 0.0 0.0: every value must be a finite number."),
}


@pytest.mark.parametrize("flags, expected", list(FLAG_CASES.values()), ids=list(FLAG_CASES))
def test_normalisation_that_cannot_be_right_is_refused_not_blamed_on_the_model(small_world, cli, tmp_path,
                                                                             previous_run, flags, expected):
    out = tmp_path / "out"
    before = previous_run(out)
    line = cli(*small_world.run_args(out, *flags)).refused(expected)
    assert "non-finite" not in line
    assert files_in(out) == before


@pytest.mark.parametrize("data, expected", [
    ("", "--data is empty"),
    ("~nouser_gradcam_x/data", "~nouser_gradcam_x is not a user on this machine"),
    ("/tmp/" + "x" * 300, "file name too long"),
], ids=["empty", "~unknown-user", "name too long"])
def test_data_paths_that_name_no_folder_are_one_sentence(small_world, cli, tmp_path, previous_run, data, expected):
    out = tmp_path / "out"
    before = previous_run(out)
    args = small_world.run_args(out)
    args[args.index("--data") + 1] = data  # as typed, not joined to the world's folder
    cli(*args).refused(expected)
    assert files_in(out) == before


def test_an_output_folder_name_too_long_is_one_sentence(small_world, cli, tmp_path):
    cli(*small_world.run_args(tmp_path / ("y" * 300))).refused("--out", "file name too long")


@pytest.mark.parametrize("where", ["inside", "the same"])
def test_an_output_folder_inside_the_data_set_is_refused(small_world, arrays_folder, cli, tmp_path, where):
    data = arrays_folder(tmp_path / "data")
    before = files_in(data)
    out = data / "results" if where == "inside" else data
    cli(*small_world.run_args(out, data=data)).refused(f"--out {out} is inside --data {data}",
                                                       "choose an --out outside the data set")
    assert files_in(data) == before


RUN_DATA_CASES = {
    "meta.json []": (None, "[]", "holds a list, not a JSON object"),
    "names as a string": (None, json.dumps({"fine_label_names": "x" * 100}), "must be a list of names"),
    "fine_to_coarse too short": (None, json.dumps({"fine_label_names": [f"c{i}" for i in range(10)],
                                                   "coarse_label_names": ["a"], "fine_to_coarse": [0]}),
                                 "has 1 entries but there are 10 classes"),
    "float labels": (np.arange(20) % 10 + 0.7, None, "not whole numbers"),
    "0-d labels": (np.array(3), None, "in shape ()"),
    "labels (20, 1)": ((np.arange(20) % 10).reshape(20, 1), None, "in shape (20, 1)"),
}


@pytest.mark.parametrize("labels, meta, expected", list(RUN_DATA_CASES.values()), ids=list(RUN_DATA_CASES))
def test_bad_arrays_folders_are_refused_before_the_pass(small_world, arrays_folder, cli, tmp_path, previous_run,
                                                        labels, meta, expected):
    data = arrays_folder(tmp_path / "data", labels=labels)
    if meta is not None:
        (data / "meta.json").write_text(meta)
    out = tmp_path / "out"
    before = previous_run(out)
    cli(*small_world.run_args(out, data=data)).refused(expected)
    assert files_in(out) == before


# --- report and compare: crafted caches --------------------------------------------------------------------


def _npy(header: bytes, data: bytes) -> bytes:
    body = header + b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + data


def _crafted(source: Path, kind: str, target: Path) -> Path:
    with np.load(source, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    raw = {}
    n, k = members["topk_classes"].shape
    if kind == "8 TB member":
        members.pop("cam_true")
        raw["cam_true"] = _npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2000000000000,), }", b"\0" * 1024)
    elif kind == "meta_json 200,000 deep":
        members["meta_json"] = np.array("[" * 200_000 + "]" * 200_000)
    elif kind == "0 images":
        members = {m: (v[:0] if m in ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "logits",
                                      "cam_contrast")
                       else v) for m, v in members.items()}
    elif kind == "CAMs (N, 0, 0)":
        members.update(cam_true=np.zeros((n, 0, 0), np.float32), cam_topk=np.zeros((n, k, 0, 0), np.float32))
    with zipfile.ZipFile(target, "w") as zf:
        for name, value in members.items():
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(name + ".npy", buf.getvalue())
        for name, data in raw.items():
            zf.writestr(name + ".npy", data)
    return target


CRAFTED = {"8 TB member": "member cam_true claims 8000000000000 bytes but holds 1024",
           "meta_json 200,000 deep": "metadata is not a JSON object",
           "0 images": "no images", "CAMs (N, 0, 0)": "CAMs of no cells"}


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_crafted_caches_are_one_sentence_in_report_and_compare(cache_file, cli, tmp_path, previous_run, kind):
    bad = _crafted(cache_file, kind, tmp_path / "bad.npz")
    out = tmp_path / "out"
    before = previous_run(out)
    cli("report", "--cache", bad, "--out", out).refused(f"{bad} is not a valid gradcam cache", CRAFTED[kind])
    cli("compare", cache_file, bad, "--out", out).refused(CRAFTED[kind])
    assert files_in(out) == before


def test_two_caches_with_the_classes_in_another_order_are_not_compared(cache_file, cli, tmp_path):
    with np.load(cache_file) as npz:
        names = npz["class_names"][::-1].copy()
    other = rewrite_npz(cache_file, tmp_path / "other.npz", class_names=names)
    line = cli("compare", cache_file, other, "--out", tmp_path / "cmp").refused("different class names")
    assert " vs " not in line


# --- report and compare: output folders ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "compare"])
def test_report_and_compare_check_their_output_folder_first(cache_file, cli, tmp_path, command):
    def go(out):
        args = ["--cache", cache_file, "--out", out] if command == "report" else [cache_file, cache_file, "--out", out]
        return cli(command, *args)

    target = tmp_path / "results.txt"
    target.write_text("the user's file")
    go(target).refused(f"The output folder {target} is a file; choose another --out.")
    assert target.read_text() == "the user's file"
    go(Path("/proc/gradcam-x")).refused("Cannot create the output folder /proc/gradcam-x")
    go(tmp_path / ("z" * 300)).refused("Cannot create the output folder", "file name too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given", "results.txt"]


def test_report_into_a_new_folder_on_a_read_only_mount(cache_file, cli, mounted):  # noqa: F811
    point = mounted("ro")
    cli("report", "--cache", cache_file, "--out", point / "new").refused(
        f"Cannot create the output folder {point / 'new'}", "read-only file system")
    assert sorted(p.name for p in point.iterdir()) == ["cache.npz"]


def test_a_symlinked_report_file_is_replaced_and_its_target_kept(cache_file, cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "mine.txt").write_text("the user's notes")
    (out / "recommendations.txt").symlink_to(tmp_path / "mine.txt")
    cli("report", "--cache", cache_file, "--out", out).completed()
    assert (tmp_path / "mine.txt").read_text() == "the user's notes"
    assert not (out / "recommendations.txt").is_symlink() and (out / "recommendations.txt").stat().st_size > 0
    assert not temporaries(files_in(out))


def test_names_a_spreadsheet_would_run_and_names_with_lone_surrogates(cache_file, cli, tmp_path):
    names = np.array(['=HYPERLINK("http://evil","x")', "@SUM(A1)", "bad\udcffname", "cat"])
    odd = rewrite_npz(cache_file, tmp_path / "odd.npz", class_names=names)
    out = tmp_path / "out"
    cli("report", "--cache", odd, "--out", out).completed()
    text = (out / "per_class_accuracy.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and ",=" not in text
    assert "bad\\udcffname" in text  # escaped as the terminal shows it: the report set is complete
    clean = tmp_path / "clean"
    cli("report", "--cache", cache_file, "--out", clean).completed()
    assert len(files_in(out)) == len(files_in(clean))  # every report file, as for ordinary names
