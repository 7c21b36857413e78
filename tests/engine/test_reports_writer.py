"""The report writer (engine.reports.writer): every file of a run, written in parallel or in this process
alike, inside the output folder whatever the class names, rewritten in place, its own stale files removed
and nobody else's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from PIL import Image

from engine.analysis.analysed_run import AnalysedRun
from engine.reports import filenames as fn
from engine.reports.class_figure import class_sheet
from engine.reports.tables import PER_CLASS_COLUMNS
from engine.reports.writer import write_reports
from engine.store.written_files import MANIFEST_NAME
from tests.report_checks import figure_json, rgb
from tests.synthetic import subset, synthetic_cache, temporaries

FIXED = [
    fn.CONFUSION_MATRIX,
    fn.PER_CLASS_CSV,
    fn.PER_CLASS_HTML,
    fn.PAIRS_CSV,
    fn.PAIRS_CHART,
    fn.SUMMARY_TXT,
    fn.RECOMMENDATIONS_TXT,
    fn.RELIABILITY_DIAGRAM,
    fn.SUPERCLASS_CONFUSION,
    fn.SUSPECTS_CSV,
    fn.ATTENTION_CSV,
    fn.ATTENTION_FLAGS_CSV,
    fn.HIGH_CONFIDENCE_ERRORS_CSV,
]
HOSTILE = ["../x", "a/b", "ünï cødé", "<script>", "..", "", "猫", "/etc/passwd"]


def expected_names(run: AnalysedRun) -> set[str]:
    pairs = run.metrics.confused_pairs.frame
    names = set(FIXED)
    names |= {fn.class_figure_name(c, run.class_names[c]) for c in range(run.cache.num_classes)}
    for r in range(1, min(5, len(pairs)) + 1):
        row = pairs.iloc[r - 1]
        names.add(fn.pair_figure_name(r, row["true_name"], row["pred_name"]))
    return names


def test_every_file_is_written_and_returned(written_reports):
    run, out, paths = written_reports
    expected = expected_names(run)
    assert len(expected) == 13 + 8 + 5
    assert {p.name for p in paths} == expected
    assert len(paths) == len(expected)  # no duplicates
    assert {p.name for p in out.iterdir()} == expected | {MANIFEST_NAME}  # nothing else (no temp files)
    assert all(p.parent == out.resolve() and p.stat().st_size > 0 for p in paths)
    assert "class_003_odd_na_me_b.png" in expected
    assert "confused_pair_1_class_1_to_class_0.png" in expected


def test_pngs_decode_with_sensible_sizes(written_reports):
    run, out, paths = written_reports
    for p in paths:
        if p.suffix != ".png":
            continue
        with Image.open(p) as im:
            im.load()
            w, h = im.size
        if p.name == fn.CONFUSION_MATRIX:
            assert (w, h) == (2000, 1800)  # 20 x 18 in at 100 dpi
        elif p.name.startswith("class_"):
            assert w >= 780 and 1200 < h < 2500, p.name  # 8 rows of 128-px panels
        elif p.name.startswith("confused_pair_"):
            row = run.metrics.confused_pairs.frame.iloc[int(p.name.split("_")[2]) - 1]
            n = min(4, int(row["count"]))  # examples shown, one row of 128-px panels each
            assert w >= 780 and 140 + 150 * n < h < 250 + 200 * n, p.name
        else:
            assert w >= 800 and h >= 500, p.name
        assert rgb(p).std() > 10, f"{p.name} looks blank"


def test_hostile_class_names_stay_inside_out_dir(tmp_path):
    cache = synthetic_cache()
    cache.class_names[:] = HOSTILE
    out = tmp_path / "out"
    paths = write_reports(AnalysedRun(cache), out, progress=False, workers=1)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert all(p.parent == out.resolve() for p in paths)
    assert all(f.is_file() for f in out.iterdir())  # no sub-folders were created
    assert len(list(out.glob("class_*.png"))) == 8
    assert "class_000_x.png" in {p.name for p in paths}


def test_writing_twice_replaces_files_and_removes_only_its_own_stale_figures(tmp_path):
    cache = synthetic_cache()
    out = tmp_path / "r"
    first = write_reports(AnalysedRun(cache), out, progress=False, workers=1)
    (out / fn.PER_CLASS_CSV).write_text("garbage")
    users = {  # the user's own files, named like report figures, and one of ours the user has since edited
        "class_999_old_run.png": b"mine", "class_2024_holiday_photo.png": b"mine",
        "class_000_apple_annotated_by_me.png": b"mine", "confused_pair_9_cats_to_dogs.png": b"mine",
        "my_notes.txt": b"keep me",
    }
    for name, data in users.items():
        (out / name).write_bytes(data)
    edited = out / fn.class_figure_name(1, cache.class_names[1])
    edited.write_bytes(b"annotated")
    renamed = replace(cache, class_names=[f"{n}_v2" for n in cache.class_names])
    second = write_reports(AnalysedRun(renamed), out, progress=False, workers=2)
    assert len(first) == len(second)
    assert pd.read_csv(out / fn.PER_CLASS_CSV).shape == (cache.num_classes, len(PER_CLASS_COLUMNS))
    gone = [p.name for p in first if p.name.startswith("class_") and p != edited]
    assert gone and not any((out / name).exists() for name in gone)  # this tool's own stale figures
    for name, data in users.items():
        assert (out / name).read_bytes() == data, name
    assert edited.read_bytes() == b"annotated"
    assert temporaries(out) == []


def test_parallel_and_serial_runs_write_identical_figures(tmp_path):
    run = AnalysedRun(synthetic_cache())
    a = write_reports(run, tmp_path / "serial", progress=False, workers=1)
    b = write_reports(run, tmp_path / "parallel", progress=False, workers=2)
    assert [p.name for p in a] == [p.name for p in b]
    for p, q in zip(a, b):
        if p.name.startswith(("class_", "confused_pair_")) or p.suffix in (".csv", ".txt"):
            assert p.read_bytes() == q.read_bytes(), p.name


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    write_reports(AnalysedRun(synthetic_cache()), tmp_path / "p", progress=True, workers=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Writing reports" in captured.err


def test_with_other_threads_running_the_pool_does_not_fork(tmp_path):
    """Inside the TUI other threads are alive: workers start with forkserver/spawn and still write the same."""
    import threading

    from engine.reports.writer import _context

    run = AnalysedRun(synthetic_cache())
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert _context().get_start_method() != "fork"
        paths = write_reports(run, tmp_path / "threaded", progress=False, workers=2)
    finally:
        stop.set()
        thread.join()
    serial = class_sheet(run, 5).render()
    assert np.array_equal(rgb(paths[[p.name for p in paths].index(fn.class_figure_name(5, "class_5"))]), serial)


def test_perfect_run_and_empty_class(tmp_path):
    base = synthetic_cache()
    keep = (base.labels == base.preds) & (base.labels != 7)  # no errors, and class 7 has no images
    run = AnalysedRun(subset(base, keep))
    paths = write_reports(run, tmp_path, progress=False, workers=1)
    names = {p.name for p in paths}
    assert not any(n.startswith("confused_pair_") for n in names)
    assert "class_007_class_7.png" in names
    assert pd.read_csv(tmp_path / fn.PAIRS_CSV).empty
    texts = [it.text for it in class_sheet(run, 7).items if hasattr(it, "text")]
    assert "Accuracy: n/a (0/0 correct)" in texts and "No test images of this class." in texts
    assert "too few to base any advice on" in (tmp_path / fn.RECOMMENDATIONS_TXT).read_text()


def test_run_without_superclasses(tmp_path):
    run = AnalysedRun(replace(synthetic_cache(), superclass_names=None, class_to_superclass=None))
    paths = write_reports(run, tmp_path, progress=False, workers=1)
    names = {p.name for p in paths}
    assert fn.SUPERCLASS_CONFUSION not in names and fn.RELIABILITY_DIAGRAM in names
    df = pd.read_csv(tmp_path / fn.PER_CLASS_CSV, keep_default_na=False)
    assert (df["superclass"] == "").all()
    assert (pd.read_csv(tmp_path / fn.PAIRS_CSV, keep_default_na=False)["same_superclass"] == "").all()
    fig = figure_json((tmp_path / fn.PER_CLASS_HTML).read_text(encoding="utf-8"))
    assert len(fig["data"]) == 1 and len(fig["layout"]["updatemenus"][0]["buttons"]) == 3
