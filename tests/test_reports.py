"""The report writers on the synthetic cache: every file, its content against cache.analysis, safety."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from engine.analysis import MISCLASSIFIED
from engine.cam_display import display_cam, heatmap_rgb, overlay_rgb
from engine.recommendations import recommendations_text
from engine.reports import safe_filename, write_class_figure, write_pair_figure, write_reports
from engine.reports import filenames as fn
from engine.reports.atomic import atomic_path
from engine.reports.figures_class import class_sheet
from engine.reports.figures_pairs import pair_examples, pair_sheet
from engine.reports.html import XML_NAMESPACES, defang_urls, page
from engine.reports.png import encode_png
from engine.reports.tables import PAIR_COLUMNS, PER_CLASS_COLUMNS
from engine.written_files import MANIFEST_NAME
from tests.synthetic import synthetic_cache, temporaries

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
HOSTILE = ["../x", "a/b", "ünï cødé", "<script>", "..", "", "猫", "/etc/passwd", "C:\\evil", "x" * 300]


@pytest.fixture(scope="module")
def cache():
    return synthetic_cache()


@pytest.fixture(scope="module")
def written(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "gradcam_results"
    return out, write_reports(cache, out, progress=False)


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _expected_names(cache) -> set[str]:
    pairs = cache.analysis.confused_pairs
    names = set(FIXED)
    names |= {fn.class_figure_name(c, cache.class_names[c]) for c in range(cache.num_classes)}
    for r in range(1, min(5, len(pairs)) + 1):
        row = pairs.iloc[r - 1]
        names.add(fn.pair_figure_name(r, row["true_name"], row["pred_name"]))
    return names


# ---------------------------------------------------------------- files


def test_every_file_is_written_and_returned(cache, written):
    out, paths = written
    expected = _expected_names(cache)
    assert len(expected) == 13 + 8 + 5
    assert {p.name for p in paths} == expected
    assert len(paths) == len(expected)  # no duplicates
    assert {p.name for p in out.iterdir()} == expected | {MANIFEST_NAME}  # nothing else (no temp files)
    assert all(p.parent == out.resolve() and p.stat().st_size > 0 for p in paths)
    assert "class_003_odd_na_me_b.png" in expected
    assert "confused_pair_1_class_1_to_class_0.png" in expected


def test_pngs_decode_with_sensible_sizes(cache, written):
    out, paths = written
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
            row = cache.analysis.confused_pairs.iloc[int(p.name.split("_")[2]) - 1]
            n = min(4, int(row["count"]))  # examples shown, one row of 128-px panels each
            assert w >= 780 and 140 + 150 * n < h < 250 + 200 * n, p.name
        else:
            assert w >= 800 and h >= 500, p.name
        assert _rgb(p).std() > 10, f"{p.name} looks blank"


def test_class_figure_png_is_the_sheet_and_panels_are_the_cam_display_maths(cache, written):
    out, _ = written
    sheet = class_sheet(cache, 1)
    rendered = np.asarray(sheet.render())
    assert np.array_equal(_rgb(out / fn.class_figure_name(1, cache.class_names[1])), rendered)
    worst = cache.analysis.worst_of(1)
    best = cache.analysis.best_of(1)
    assert worst[0][1] == MISCLASSIFIED
    widths = [4 if k == MISCLASSIFIED else 3 for _, k in worst] + [3] * len(best)
    assert len(sheet.boxes) == sum(widths)
    i, t, p = worst[0][0], 1, int(cache.preds[worst[0][0]])
    size = cache.images.shape[1:3]
    expect = [
        cache.images[i],
        overlay_rgb(cache.images[i], display_cam(cache.cam_for(i, t), size), 0.5),
        overlay_rgb(cache.images[i], display_cam(cache.cam_for(i, p), size), 0.5),
        heatmap_rgb(display_cam(cache.cam_for(i, p), size)),
    ]
    for (x0, y0, x1, y1), panel in zip(sheet.boxes[:4], expect):
        k = (x1 - x0) // panel.shape[1]
        assert k >= 4  # 32-px images are enlarged to at least 128 px
        assert np.array_equal(rendered[y0:y1, x0:x1], np.repeat(np.repeat(panel, k, 0), k, 1))
    # the best-prediction rows show the true class's map
    j = best[0]
    x0, y0, x1, y1 = sheet.boxes[sum(widths[: len(worst)]) + 1]
    panel = overlay_rgb(cache.images[j], display_cam(cache.cam_true[j], size), 0.5)
    k = (x1 - x0) // panel.shape[1]
    assert np.array_equal(rendered[y0:y1, x0:x1], np.repeat(np.repeat(panel, k, 0), k, 1))


def test_class_figure_header_counts(cache):
    from engine.reports.figures_class import worst_line
    from engine.reports.formatting import accuracy_line

    texts = [it.text for it in class_sheet(cache, 3).items if hasattr(it, "text")]
    row = cache.analysis.per_class.iloc[3]
    kinds = [k for _, k in cache.analysis.worst_of(3)]
    assert accuracy_line(int(row["correct"]), int(row["support"])) in texts
    assert f"Accuracy: {row['correct'] / row['support']:.1%} ({row['correct']}/{row['support']} correct)" in texts
    assert worst_line(kinds) in texts
    n_wrong = kinds.count(MISCLASSIFIED)
    n_low = len(kinds) - n_wrong
    assert f"Worst predictions: {len(kinds)} — misclassified {n_wrong}, low-confidence correct {n_low}" in texts
    assert accuracy_line(67, 100) == "Accuracy: 67.0% (67/100 correct)"
    assert accuracy_line(0, 0) == "Accuracy: n/a (0/0 correct)"


def test_pair_figure_examples_and_difference_panel(cache, written):
    out, _ = written
    row = cache.analysis.confused_pairs.iloc[0]
    t, p = int(row["true_id"]), int(row["pred_id"])
    ex = pair_examples(cache, t, p)
    assert 1 <= len(ex) <= 4 and len(ex) == min(4, int(row["count"]))
    assert all(cache.labels[i] == t and cache.preds[i] == p for i in ex)
    conf = cache.confidence[ex]
    assert np.all(np.diff(conf) <= 0)  # most confident first
    sheet = pair_sheet(cache, 1)
    rendered = np.asarray(sheet.render())
    name = fn.pair_figure_name(1, cache.class_names[t], cache.class_names[p])
    assert np.array_equal(_rgb(out / name), rendered)
    assert len(sheet.boxes) == 4 * len(ex)
    # difference panel: red where only the predicted-class map is, blue where only the true-class map is
    x0, y0, x1, y1 = sheet.boxes[3]
    diff = rendered[y0:y1, x0:x1].astype(int)
    assert diff.shape[0] == diff.shape[1] >= 128
    assert (diff[..., 0] - diff[..., 2]).max() > 40 or (diff[..., 2] - diff[..., 0]).max() > 40


def test_write_class_and_pair_figure_api(cache, tmp_path):
    p = write_class_figure(cache, 3, tmp_path / "new")
    assert p == (tmp_path / "new" / "class_003_odd_na_me_b.png").resolve()
    assert p.exists() and np.array_equal(_rgb(p), np.asarray(class_sheet(cache, 3).render()))
    q = write_pair_figure(cache, 2, tmp_path / "new")
    row = cache.analysis.confused_pairs.iloc[1]
    assert q.name == f"confused_pair_2_{safe_filename(row['true_name'])}_to_{safe_filename(row['pred_name'])}.png"
    with pytest.raises(ValueError):
        write_class_figure(cache, cache.num_classes, tmp_path)
    with pytest.raises(ValueError):
        write_pair_figure(cache, 0, tmp_path)
    with pytest.raises(ValueError):
        write_pair_figure(cache, len(cache.analysis.confused_pairs) + 1, tmp_path)


# ---------------------------------------------------------------- tables


def test_per_class_csv_matches_analysis(cache, written):
    out, _ = written
    df = pd.read_csv(out / fn.PER_CLASS_CSV, keep_default_na=False, na_values=[""])
    pc = cache.analysis.per_class
    assert list(df.columns) == PER_CLASS_COLUMNS
    assert len(df) == cache.num_classes
    assert df["class_name"].tolist() == cache.class_names  # including "odd/na me<b>"
    assert df["class_id"].tolist() == list(range(cache.num_classes))
    for col in ("support", "correct", "top_wrong_count"):
        assert df[col].tolist() == pc[col].tolist(), col
    for col in ("accuracy", "precision", "recall", "f1", "mean_confidence", "mean_confidence_correct"):
        np.testing.assert_allclose(df[col], pc[col], atol=1e-6, err_msg=col)
    np.testing.assert_allclose(
        df["mean_confidence_wrong"].fillna(-1), pc["mean_confidence_wrong"].fillna(-1), atol=1e-6
    )
    assert df["superclass"].tolist() == [cache.superclass_names[s] for s in cache.class_to_superclass]
    assert df.loc[1, "top_wrong_prediction"] == "class_0" and df.loc[1, "top_wrong_count"] == 5
    assert df.loc[1, "correct"] / df.loc[1, "support"] == pytest.approx(df.loc[1, "accuracy"], abs=1e-6)


def test_pairs_csv_matches_analysis(cache, written):
    out, _ = written
    df = pd.read_csv(out / fn.PAIRS_CSV)
    pairs = cache.analysis.confused_pairs
    assert list(df.columns) == PAIR_COLUMNS
    assert len(df) == len(pairs) <= 15
    assert df["rank"].tolist() == list(range(1, len(df) + 1))
    assert df["count"].tolist() == pairs["count"].tolist()
    assert df["true_name"].tolist() == pairs["true_name"].tolist()
    assert df["pred_name"].tolist() == pairs["pred_name"].tolist()
    conf = cache.analysis.confusion
    assert all(conf[r.true_id, r.pred_id] == r.count for r in df.itertuples())
    np.testing.assert_allclose(df["share_of_true"], pairs["share_of_true"], atol=1e-6)
    np.testing.assert_allclose(df["mean_confidence"], pairs["mean_confidence"], atol=1e-6)
    assert df["same_superclass"].tolist() == pairs["same_superclass"].tolist()
    assert (df.loc[0, "true_name"], df.loc[0, "pred_name"], df.loc[0, "count"]) == ("class_1", "class_0", 5)


# ---------------------------------------------------------------- text


def test_summary_numbers_agree_with_analysis(cache, written):
    out, _ = written
    text = (out / fn.SUMMARY_TXT).read_text(encoding="utf-8")
    a = cache.analysis
    assert f"Top-1 accuracy:  {a.top1:.2%} ({a.num_correct}/{a.num_images} correct)" in text
    assert f"Top-5 accuracy:  {a.top5:.2%}" in text
    assert f"Errors:          {a.num_images - a.num_correct}" in text
    # worst classes, in order, with their accuracy and counts
    section = text.split("Worst 10 classes by accuracy")[1].split("Best 5 classes")[0]
    listed = re.findall(r"^\s+\d+\. (.+?)\s+(\d+\.\d)%\s+\((\d+)/(\d+)\)", section, flags=re.M)
    pc = a.per_class.sort_values(["accuracy", "class_id"], kind="mergesort")
    assert [x[0].strip() for x in listed] == pc["class_name"].tolist()[: len(listed)]
    assert len(listed) == min(10, cache.num_classes)
    for (name, acc, correct, support), r in zip(listed, pc.itertuples()):
        assert (int(correct), int(support)) == (r.correct, r.support)
        assert float(acc) == pytest.approx(100 * r.accuracy, abs=0.05)
    top = a.confused_pairs.iloc[0]
    assert f"1. {top['true_name']} -> {top['pred_name']}: {top['count']} images" in text
    assert f"Errors that stay within the true superclass: {a.errors_within_superclass:.1%}" in text
    assert "group_a" in text and "group_b" in text
    assert "target_layer: layer3" in text and "model.arch: synthetic" in text


def test_recommendations_txt_is_the_recommendations_text(cache, written):
    out, _ = written
    assert (out / fn.RECOMMENDATIONS_TXT).read_text(encoding="utf-8") == recommendations_text(cache)


# ---------------------------------------------------------------- HTML


def _figure_json(html_text: str) -> dict:
    m = re.search(r'<script type="application/json" id="per-class-figure">(.*?)</script>', html_text, re.S)
    assert m, "figure data block missing"
    return json.loads(m.group(1))


def test_html_numbers_agree_with_analysis(cache, written):
    out, _ = written
    text = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    fig = _figure_json(text)
    pc = cache.analysis.per_class
    ys, xs = {}, {}
    for trace in fig["data"]:
        for x, y, cd in zip(trace["x"], trace["y"], trace["customdata"]):
            ys[int(cd[0])] = y
            xs[int(cd[0])] = x
            assert cd[4] == str(pc.loc[int(cd[0]), "correct"]) and cd[3] == str(pc.loc[int(cd[0]), "support"])
    assert sorted(ys) == list(range(cache.num_classes))
    np.testing.assert_allclose([ys[c] for c in range(cache.num_classes)], pc["accuracy"], atol=1e-9)
    assert [t["name"] for t in fig["data"]] == ["group_a", "group_b"]  # grouped by superclass
    assert fig["layout"]["shapes"][0]["y0"] == pytest.approx(cache.analysis.top1)
    labels = [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["Class id", "Accuracy, worst first", "Accuracy, best first", "Superclass, then accuracy"]
    worst_first = fig["layout"]["updatemenus"][0]["buttons"][1]["args"][0]["xaxis.categoryarray"]
    order = pc.sort_values(["accuracy", "class_id"], kind="mergesort")["class_id"].tolist()
    assert worst_first == [xs[c] for c in order]
    assert text.count("<tr><td") == cache.num_classes  # the table under the chart
    assert "Plotly.newPlot('per-class-accuracy', fig.data, fig.layout" in text


def test_html_escapes_class_names(cache, written):
    out, _ = written
    text = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    assert "odd/na me<b>" not in text
    assert "odd/na me&lt;b&gt;" in text  # the table and the plot's labels (plotly shows the entities as text)
    hostile = synthetic_cache()
    hostile.class_names[2] = "</script><script>alert(1)</script>"
    hostile.class_names[5] = '"><img src=x onerror=alert(2)>'
    html_text = page(hostile)
    assert "<script>alert(1)" not in html_text and "</script><script>alert" not in html_text
    assert "<img src=x" not in html_text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html_text
    assert html_text.count("<script") == html_text.count("</script>") == 5  # only our own inline scripts


def test_html_is_self_contained_with_no_external_url(written):
    out, _ = written
    text = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    assert len(text) > 1_000_000  # plotly.js is inline
    # nothing is loaded from anywhere: no external scripts, stylesheets, frames, images, CSS imports
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<(link|iframe|img|embed|object|base)\b", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?\s*(https?:)?//", text, re.I)
    assert not re.search(r"\b(src|href)\s*=\s*['\"]?\s*(https?:)?//", text, re.I)
    # the only http(s) strings left are XML namespace identifiers (names, never fetched)
    urls = set(re.findall(r"https?://[^\s\"'`<>)\\]*", text))
    assert urls and urls <= set(XML_NAMESPACES), urls - set(XML_NAMESPACES)
    assert "hxxps://cdn.plot.ly" in text  # plotly's CDN default, defanged
    assert '"displaylogo": false' in text


def test_defang_urls_keeps_namespaces():
    js = 'a="http://www.w3.org/2000/svg";b="https://cdn.plot.ly/x";c=`http://example.com/${p}`'
    out = defang_urls(js)
    assert out == 'a="http://www.w3.org/2000/svg";b="hxxps://cdn.plot.ly/x";c=`hxxp://example.com/${p}`'


# ---------------------------------------------------------------- names and safety


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_filename_is_a_plain_fragment(name):
    s = safe_filename(name)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", s), s
    assert len(s) <= 60 and ".." not in s and "/" not in s and "\\" not in s


def test_safe_filename_examples():
    assert safe_filename("odd/na me<b>") == "odd_na_me_b"
    assert safe_filename("ünï cødé") == "uni_c_de"
    assert safe_filename("aquarium_fish") == "aquarium_fish"
    assert safe_filename("猫") != safe_filename("犬")  # nothing ASCII left: distinct hashes


def test_hostile_class_names_stay_inside_out_dir(tmp_path):
    cache = synthetic_cache()
    cache.class_names[:] = HOSTILE[:8]
    out = tmp_path / "out"
    paths = write_reports(cache, out, progress=False, workers=1)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert all(p.parent == out.resolve() for p in paths)
    assert all(f.is_file() for f in out.iterdir())  # no sub-folders were created
    assert len(list(out.glob("class_*.png"))) == 8
    assert "class_000_x.png" in {p.name for p in paths}


def test_inside_refuses_escapes(tmp_path):
    with pytest.raises(ValueError):
        fn.inside(tmp_path, "../x.png")
    with pytest.raises(ValueError):
        fn.inside(tmp_path, "a/b.png")


# ---------------------------------------------------------------- diagnosis files (issue 6)


def test_suspects_csv_equals_diagnostics(cache, written):
    out, _ = written
    df = pd.read_csv(out / fn.SUSPECTS_CSV, keep_default_na=False)
    sus = cache.diagnostics.suspects
    assert len(df) == len(sus) > 0
    assert df["rank"].tolist() == list(range(1, len(sus) + 1))
    for col in ("image", "given_id", "suggested_id"):
        assert df[col].tolist() == sus[col].tolist()
    assert df["given"].tolist() == sus["given"].tolist() and df["suggested"].tolist() == sus["suggested"].tolist()
    for col in ("p_given", "p_suggested", "margin", "threshold"):
        assert np.allclose(df[col], sus[col], atol=1e-6)
    assert (np.diff(df["margin"]) <= 1e-6).all()  # ranked, largest margin first


def test_attention_csv_equals_diagnostics(cache, written):
    out, _ = written
    df = pd.read_csv(out / fn.ATTENTION_CSV)
    apc = cache.diagnostics.attention_per_class
    assert list(df.columns) == list(apc.columns) and len(df) == cache.num_classes
    assert df["errors"].tolist() == apc["errors"].tolist()
    for col in apc.columns[3:]:
        assert np.allclose(df[col], apc[col], atol=1e-6, equal_nan=True), col


def test_reliability_and_superclass_figures(cache, written):
    out, _ = written
    from engine.reports.diagnosis import calibration_title

    cal = cache.diagnostics.calibration
    title = calibration_title(cache)
    assert f"ECE {cal.ece:.3f}" in title and f"T={cal.temperature:.2f}" in title and f"{cal.ece_after:.3f}" in title
    for name in (fn.RELIABILITY_DIAGRAM, fn.SUPERCLASS_CONFUSION):
        with Image.open(out / name) as im:
            im.load()
            assert im.size[0] >= 800 and im.size[1] >= 800
        assert _rgb(out / name).std() > 10


def test_summary_has_calibration_attention_and_suspects(cache, written):
    out, _ = written
    text = (out / fn.SUMMARY_TXT).read_text(encoding="utf-8")
    d = cache.diagnostics
    cal = d.calibration
    for heading in ("Calibration", "Attention", "Label suspects"):
        assert f"\n{heading}\n" in text
    assert f"ECE (15 bins): {cal.ece:.4f}" in text and f"MCE: {cal.mce:.4f}" in text
    assert f"NLL: {cal.nll:.4f}" in text and f"Brier: {cal.brier:.4f}" in text
    t1, t2 = cal.temperature_folds
    assert f"T = {t1:.3f} and {t2:.3f}" in text and f"ECE {cal.ece_after:.4f}" in text
    assert f"Errors at >= 90% confidence: {len(cal.high_conf_errors)}" in text
    assert f"doubts (confident-learning thresholds): {len(d.suspects)}" in text
    for r in d.suspects.head(10).itertuples():
        assert f"image {r.image}: {r.given} -> {r.suggested}" in text
    apc = d.attention_per_class
    top = apc[apc["errors"] > 0].sort_values("background_focus_errors", ascending=False).iloc[0]
    assert f"   1. {top['class_name']}" in text.split("\nAttention\n")[1]


# ---------------------------------------------------------------- rewriting, atomicity, parallelism


def test_writing_twice_replaces_files_and_removes_only_its_own_stale_figures(cache, tmp_path):
    out = tmp_path / "r"
    first = write_reports(cache, out, progress=False, workers=1)
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
    renamed = replace(cache, class_names=[f"{n}_v2" for n in cache.class_names], _analysis=None,
                                  _diagnostics=None)
    second = write_reports(renamed, out, progress=False, workers=2)
    assert len(first) == len(second)
    assert pd.read_csv(out / fn.PER_CLASS_CSV).shape == (cache.num_classes, len(PER_CLASS_COLUMNS))
    gone = [p.name for p in first if p.name.startswith("class_") and p != edited]
    assert gone and not any((out / name).exists() for name in gone)  # this tool's own stale figures
    for name, data in users.items():
        assert (out / name).read_bytes() == data, name
    assert edited.read_bytes() == b"annotated"
    assert temporaries(out) == []


def test_parallel_and_serial_runs_write_identical_figures(cache, tmp_path):
    a = write_reports(cache, tmp_path / "serial", progress=False, workers=1)
    b = write_reports(cache, tmp_path / "parallel", progress=False, workers=2)
    for p, q in zip(a, b):
        if p.name.startswith(("class_", "confused_pair_")) or p.suffix in (".csv", ".txt"):
            assert p.read_bytes() == q.read_bytes(), p.name


def test_interrupted_write_leaves_previous_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_progress_bar_goes_to_stderr(cache, tmp_path, capsys):
    write_reports(cache, tmp_path / "p", progress=True, workers=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Writing reports" in captured.err


def test_png_encoder_round_trip():
    rng = np.random.default_rng(1)
    for shape in ((1, 1, 3), (17, 33, 3), (128, 64, 3)):
        rgb = rng.integers(0, 256, shape, dtype=np.uint8)
        with Image.open(io.BytesIO(encode_png(rgb))) as im:
            assert im.mode == "RGB"
            assert np.array_equal(np.asarray(im), rgb)


# ---------------------------------------------------------------- edge cases


def _subset(cache, keep: np.ndarray):
    return replace(
        cache,
        images=cache.images[keep],
        labels=cache.labels[keep],
        probs=cache.probs[keep],
        topk_classes=cache.topk_classes[keep],
        cam_true=cache.cam_true[keep],
        cam_topk=cache.cam_topk[keep],
        masks=None if cache.masks is None else cache.masks[keep],
        logits=None if cache.logits is None else cache.logits[keep],
        _analysis=None,
        _diagnostics=None,
    )


def test_perfect_run_and_empty_class(tmp_path):
    base = synthetic_cache()
    keep = (base.labels == base.preds) & (base.labels != 7)  # no errors, and class 7 has no images
    cache = _subset(base, keep)
    paths = write_reports(cache, tmp_path, progress=False, workers=1)
    names = {p.name for p in paths}
    assert not any(n.startswith("confused_pair_") for n in names)
    assert "class_007_class_7.png" in names
    assert pd.read_csv(tmp_path / fn.PAIRS_CSV).empty
    texts = [it.text for it in class_sheet(cache, 7).items if hasattr(it, "text")]
    assert "Accuracy: n/a (0/0 correct)" in texts and "No test images of this class." in texts
    assert "too few to base any advice on" in (tmp_path / fn.RECOMMENDATIONS_TXT).read_text()


def test_run_without_superclasses(tmp_path):
    cache = replace(synthetic_cache(), superclass_names=None, class_to_superclass=None, _analysis=None)
    paths = write_reports(cache, tmp_path, progress=False, workers=1)
    names = {p.name for p in paths}
    assert fn.SUPERCLASS_CONFUSION not in names and fn.RELIABILITY_DIAGRAM in names
    df = pd.read_csv(tmp_path / fn.PER_CLASS_CSV, keep_default_na=False)
    assert (df["superclass"] == "").all()
    assert (pd.read_csv(tmp_path / fn.PAIRS_CSV, keep_default_na=False)["same_superclass"] == "").all()
    fig = _figure_json((tmp_path / fn.PER_CLASS_HTML).read_text(encoding="utf-8"))
    assert len(fig["data"]) == 1 and len(fig["layout"]["updatemenus"][0]["buttons"]) == 3


def test_report_modules_import_no_torch():
    code = (
        "import sys, engine.reports, engine.recommendations; "
        "bad = [m for m in ('torch', 'torchvision', 'textual') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_with_other_threads_running_the_pool_does_not_fork(cache, tmp_path):
    """Inside the TUI other threads are alive: workers start with forkserver/spawn and still write the same."""
    import threading

    from engine.reports.writer import _context

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert _context().get_start_method() != "fork"
        paths = write_reports(cache, tmp_path / "threaded", progress=False, workers=2)
    finally:
        stop.set()
        thread.join()
    serial = class_sheet(cache, 5).render()
    assert np.array_equal(_rgb(paths[[p.name for p in paths].index(fn.class_figure_name(5, "class_5"))]), serial)


def test_attention_flags_list_every_flagged_image_errors_first(cache, written):
    from engine.attention import BACKGROUND_FLAG, DIFFUSE_FLAG

    out, _ = written
    att = cache.diagnostics.attention
    flagged = (att.background_focus > BACKGROUND_FLAG) | (att.diffuseness > DIFFUSE_FLAG)
    table = pd.read_csv(out / fn.ATTENTION_FLAGS_CSV)
    assert sorted(table["image"]) == np.nonzero(flagged)[0].tolist()
    assert table["correct"].tolist() == sorted(table["correct"].tolist())  # errors (False) first
    np.testing.assert_allclose(table["background_focus"], att.background_focus[table["image"]], atol=1e-6)
    suspects = pd.read_csv(out / fn.SUSPECTS_CSV)
    assert "strong" in suspects.columns


def test_high_confidence_errors_are_listed_most_confident_first(cache, written):
    out, _ = written
    table = pd.read_csv(out / fn.HIGH_CONFIDENCE_ERRORS_CSV)
    wrong_hi = (cache.labels != cache.preds) & (cache.confidence >= 0.9)
    assert sorted(table["image"]) == np.nonzero(wrong_hi)[0].tolist()
    assert table["confidence"].tolist() == sorted(table["confidence"].tolist(), reverse=True)
