"""The report figures (engine.reports.class_figure, pair_figure, diagnosis, png): each PNG is its sheet, its
panels are the panels the TUI shows, its header counts are the run's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.analysis.cam_maps import display_cam
from engine.analysis.selections import MISCLASSIFIED
from engine.figures.colours import heatmap_rgb, overlay_rgb
from engine.figures.examples import pair_examples
from engine.figures.numbers import accuracy_line
from engine.reports import filenames as fn
from engine.reports.class_figure import class_sheet, worst_line, write_class_figure
from engine.reports.diagnosis import calibration_title
from engine.reports.filenames import safe_filename
from engine.reports.pair_figure import pair_sheet, write_pair_figure
from engine.reports.png import encode_png
from tests.report_checks import rgb


def test_class_figure_png_is_the_sheet_and_panels_are_the_cam_display_maths(written_reports):
    run, out, _ = written_reports
    cache = run.cache
    sheet = class_sheet(run, 1)
    rendered = np.asarray(sheet.render())
    assert np.array_equal(rgb(out / fn.class_figure_name(1, cache.class_names[1])), rendered)
    worst = run.selections.worst_of(1)
    best = run.selections.best_of(1)
    assert worst[0][1] == MISCLASSIFIED
    widths = [5 if k == MISCLASSIFIED else 3 for _, k in worst] + [3] * len(best)  # an error: + its contrast
    assert len(sheet.boxes) == sum(widths)
    i, t, p = worst[0][0], 1, int(cache.preds[worst[0][0]])
    size = cache.images.shape[1:3]
    expect = [
        cache.images[i],
        overlay_rgb(cache.images[i], display_cam(cache.cam_for(i, t), size), 0.5),
        overlay_rgb(cache.images[i], display_cam(cache.cam_for(i, p), size), 0.5),
        overlay_rgb(cache.images[i], display_cam(cache.cam_contrast[i], size), 0.5),
        heatmap_rgb(display_cam(cache.cam_for(i, p), size)),
    ]
    for (x0, y0, x1, y1), panel in zip(sheet.boxes[:5], expect):
        k = (x1 - x0) // panel.shape[1]
        assert k >= 4  # 32-px images are enlarged to at least 128 px
        assert np.array_equal(rendered[y0:y1, x0:x1], np.repeat(np.repeat(panel, k, 0), k, 1))
    # the best-prediction rows show the true class's map
    j = best[0]
    x0, y0, x1, y1 = sheet.boxes[sum(widths[: len(worst)]) + 1]
    panel = overlay_rgb(cache.images[j], display_cam(cache.cam_true[j], size), 0.5)
    k = (x1 - x0) // panel.shape[1]
    assert np.array_equal(rendered[y0:y1, x0:x1], np.repeat(np.repeat(panel, k, 0), k, 1))


def test_class_figure_header_counts(small_run):
    texts = [it.text for it in class_sheet(small_run, 3).items if hasattr(it, "text")]
    row = small_run.metrics.per_class.frame.iloc[3]
    kinds = [k for _, k in small_run.selections.worst_of(3)]
    assert accuracy_line(int(row["correct"]), int(row["support"])) in texts
    assert f"Accuracy: {row['correct'] / row['support']:.1%} ({row['correct']}/{row['support']} correct)" in texts
    assert worst_line(kinds) in texts
    n_wrong = kinds.count(MISCLASSIFIED)
    n_low = len(kinds) - n_wrong
    assert f"Worst predictions: {len(kinds)} — misclassified {n_wrong}, low-confidence correct {n_low}" in texts
    assert f"Class 003: {small_run.class_names[3]}   (superclass: group_a)" in texts


def test_pair_figure_examples_and_difference_panel(written_reports):
    run, out, _ = written_reports
    cache = run.cache
    row = run.metrics.confused_pairs.frame.iloc[0]
    t, p = int(row["true_id"]), int(row["pred_id"])
    ex = pair_examples(cache, t, p, 4)
    assert 1 <= len(ex) <= 4 and len(ex) == min(4, int(row["count"]))
    assert all(cache.labels[i] == t and cache.preds[i] == p for i in ex)
    conf = cache.confidence[ex]
    assert np.all(np.diff(conf) <= 0)  # most confident first
    sheet = pair_sheet(run, 1)
    rendered = np.asarray(sheet.render())
    name = fn.pair_figure_name(1, cache.class_names[t], cache.class_names[p])
    assert np.array_equal(rgb(out / name), rendered)
    assert len(sheet.boxes) == 5 * len(ex)
    # the contrastive map, next to the two maps
    x0, y0, x1, y1 = sheet.boxes[3]
    panel = overlay_rgb(cache.images[ex[0]], display_cam(cache.cam_contrast[ex[0]], cache.images.shape[1:3]), 0.5)
    k = (x1 - x0) // panel.shape[1]
    assert np.array_equal(rendered[y0:y1, x0:x1], np.repeat(np.repeat(panel, k, 0), k, 1))
    assert any("y_pred − y_true" in getattr(it, "text", "") for it in sheet.items)
    # difference panel: red where only the predicted-class map is, blue where only the true-class map is
    x0, y0, x1, y1 = sheet.boxes[4]
    diff = rendered[y0:y1, x0:x1].astype(int)
    assert diff.shape[0] == diff.shape[1] >= 128
    assert (diff[..., 0] - diff[..., 2]).max() > 40 or (diff[..., 2] - diff[..., 0]).max() > 40


def test_a_cache_written_before_the_contrastive_maps_loads_and_draws_its_figures(tmp_path, make_cache):
    """An older cache without cam_contrast: it loads, and its class and pair figures draw the panels they
    drew before (four for an error), without the contrastive map."""
    from engine.analysis.analysed_run import AnalysedRun
    from engine.store import load_cache, save_cache

    path = save_cache(make_cache(contrast=False), tmp_path / "cache.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert "cam_contrast" not in npz.files
    run = AnalysedRun(load_cache(path))
    assert run.cache.cam_contrast is None
    sheet = pair_sheet(run, 1)
    sheet.render()
    row = run.metrics.confused_pairs.frame.iloc[0]
    assert len(sheet.boxes) == 4 * len(pair_examples(run.cache, int(row["true_id"]), int(row["pred_id"]), 4))
    assert not any("y_pred − y_true" in getattr(it, "text", "") for it in sheet.items)
    worst = run.selections.worst_of(1)
    sheet = class_sheet(run, 1)
    sheet.render()
    best = run.selections.best_of(1)
    assert len(sheet.boxes) == sum(4 if k == MISCLASSIFIED else 3 for _, k in worst) + 3 * len(best)
    for png in (write_pair_figure(run, 1, tmp_path), write_class_figure(run, 1, tmp_path)):
        assert rgb(png).shape[0] > 150


def test_write_class_and_pair_figure_api(small_run, tmp_path):
    p = write_class_figure(small_run, 3, tmp_path / "new")
    assert p == (tmp_path / "new" / "class_003_odd_na_me_b.png").resolve()
    assert p.exists() and np.array_equal(rgb(p), np.asarray(class_sheet(small_run, 3).render()))
    q = write_pair_figure(small_run, 2, tmp_path / "new")
    row = small_run.metrics.confused_pairs.frame.iloc[1]
    assert q.name == f"confused_pair_2_{safe_filename(row['true_name'])}_to_{safe_filename(row['pred_name'])}.png"
    with pytest.raises(ValueError):
        write_class_figure(small_run, small_run.cache.num_classes, tmp_path)
    with pytest.raises(ValueError):
        write_pair_figure(small_run, 0, tmp_path)
    with pytest.raises(ValueError):
        write_pair_figure(small_run, len(small_run.metrics.confused_pairs) + 1, tmp_path)


def test_reliability_and_superclass_figures(written_reports):
    run, out, _ = written_reports
    cal = run.calibration
    title = calibration_title(run)
    assert f"ECE {cal.ece:.3f}" in title and f"T={cal.temperature:.2f}" in title and f"{cal.ece_after:.3f}" in title
    for name in (fn.RELIABILITY_DIAGRAM, fn.SUPERCLASS_CONFUSION):
        with Image.open(out / name) as im:
            im.load()
            assert im.size[0] >= 800 and im.size[1] >= 800
        assert rgb(out / name).std() > 10


def test_png_encoder_round_trip():
    rng = np.random.default_rng(1)
    for shape in ((1, 1, 3), (17, 33, 3), (128, 64, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        with Image.open(io.BytesIO(encode_png(image))) as im:
            assert im.mode == "RGB"
            assert np.array_equal(np.asarray(im), image)
