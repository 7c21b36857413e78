"""What an example looks like (engine.figures): the colours (matplotlib's, without matplotlib), how numbers
read, which images a figure shows, and the panels shared by the PNG reports and the terminal app."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.analysis.cam_maps import display_cam
from engine.analysis.selections import HIGH_CONFIDENCE_CORRECT
from engine.figures import panels
from engine.figures.colours import diverging_lut, heatmap_rgb, jet_lut, overlay_rgb
from engine.figures.examples import class_examples, pair_examples, target_role
from engine.figures.numbers import accuracy_line, pct


def test_jet_lut_matches_matplotlib():
    import matplotlib

    ref = np.round(matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255)
    assert np.abs(ref - jet_lut().astype(float)).max() <= 1
    assert heatmap_rgb(np.array([[0.0, 1.0]])).tolist() == [[[0, 0, 128], [128, 0, 0]]]


def test_diverging_lut_matches_matplotlib():
    import matplotlib

    ref = np.round(matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3] * 255)
    assert np.abs(ref - diverging_lut().astype(float)).max() <= 1


def test_overlay_blends_at_half():
    image = np.full((1, 2, 3), 100, np.uint8)
    cam = np.array([[0.0, 1.0]])
    assert overlay_rgb(image, cam).tolist() == [[[50, 50, 114], [114, 50, 50]]]


def test_numbers_read_the_same_everywhere():
    assert accuracy_line(67, 100) == "Accuracy: 67.0% (67/100 correct)"
    assert accuracy_line(0, 0) == "Accuracy: n/a (0/0 correct)"
    assert pct(0.5) == "50.0%" and pct(0.00001) == "<0.1%" and pct(0.0) == "0.0%"
    assert pct(None) == "n/a" and pct(float("nan")) == "n/a" and pct(0.123, 0) == "12%"


def test_pair_examples_are_the_pairs_images_most_confident_first(small_cache):
    c = small_cache
    ex = pair_examples(c, 1, 0)
    assert ex and all(c.labels[i] == 1 and c.preds[i] == 0 for i in ex)
    assert len(ex) == int(((c.labels == 1) & (c.preds == 0)).sum())
    assert np.all(np.diff(c.confidence[ex]) <= 0)
    assert pair_examples(c, 1, 0, limit=2) == ex[:2]


def test_class_examples_follow_the_selections(small_run):
    ex = class_examples(small_run.selections, 1)
    worst, best = small_run.selections.worst_of(1), small_run.selections.best_of(1)
    assert [(e.index, e.kind) for e in ex if e.group == "worst"] == worst
    assert [e.index for e in ex if e.group == "best"] == best
    assert all(e.kind == HIGH_CONFIDENCE_CORRECT for e in ex if e.group == "best")
    assert [e.position for e in ex] == [*range(1, len(worst) + 1), *range(1, len(best) + 1)]
    assert ex[0].misclassified and ex[0].kind_name == "misclassified"


def test_target_roles(small_cache):
    c = small_cache
    i = next(k for k in range(c.num_images) if c.labels[k] != c.preds[k])
    assert target_role(c, i, int(c.labels[i])) == "True" and target_role(c, i, int(c.preds[i])) == "Pred"
    j = next(k for k in range(c.num_images) if c.labels[k] == c.preds[k])
    assert target_role(c, j, int(c.labels[j])) == "True = Pred"
    other = int(c.topk_classes[j, 2])
    assert target_role(c, j, other) == "Top-3"
    absent = next(k for k in range(c.num_classes) if k not in c.topk_classes[j] and k != c.labels[j])
    assert target_role(c, j, absent) == "Other"


def test_panels_are_the_cam_display_maths(small_cache):
    c = small_cache
    i = next(k for k in range(c.num_images) if c.labels[k] != c.preds[k])
    t, p = int(c.labels[i]), int(c.preds[i])
    shown = panels.class_example_panels(c, i)
    assert [x.title for x in shown] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Why Pred, not True",
                                        "Heatmap (Pred)"]
    size = c.images.shape[1:3]
    assert np.array_equal(shown[0].rgb, c.images[i])
    assert np.array_equal(shown[1].rgb, overlay_rgb(c.images[i], display_cam(c.cam_for(i, t), size)))
    assert np.array_equal(shown[3].rgb, overlay_rgb(c.images[i], display_cam(c.cam_contrast[i], size)))
    assert shown[3].caption == f"{c.class_names[p]}, not {c.class_names[t]}"
    assert np.array_equal(shown[4].rgb, heatmap_rgb(display_cam(c.cam_for(i, p), size)))
    pair = panels.pair_example_panels(c, i, t, p)
    assert [x.title for x in pair] == ["Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Why Pred, not True",
                                       "Pred − True"]
    assert np.array_equal(pair[3].rgb, shown[3].rgb)
    assert pair[4].rgb.shape == (*size, 3) and pair[4].caption.endswith("of peak")
    j = next(k for k in range(c.num_images) if c.labels[k] == c.preds[k])  # a correct one: no contrast to show
    assert panels.CONTRAST not in [x.title for x in panels.class_example_panels(c, j)]


def test_a_cache_without_contrastive_maps_draws_its_figures_without_that_panel(small_cache):
    old = dataclasses.replace(small_cache, cam_contrast=None)
    i = next(k for k in range(old.num_images) if old.labels[k] != old.preds[k])
    t, p = int(old.labels[i]), int(old.preds[i])
    assert [x.title for x in panels.class_example_panels(old, i)] == [
        "Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Heatmap (Pred)"]
    assert [x.title for x in panels.pair_example_panels(old, i, t, p)] == [
        "Original", "Grad-CAM (True)", "Grad-CAM (Pred)", "Pred − True"]


def test_panels_without_a_picture_or_a_map_carry_a_note(small_cache):
    c = dataclasses.replace(small_cache, images=small_cache.images[:3])  # images end early
    i = 10
    absent = next(k for k in range(c.num_classes) if k not in c.topk_classes[i] and k != c.labels[i])
    shown = panels.class_example_panels(c, i, target=absent)
    assert shown[0].rgb is None and shown[0].note == panels.NO_IMAGE
    assert any(x.note == panels.NO_MAP for x in shown)
    true_map = panels.overlay(c, i, int(c.labels[i]), "Grad-CAM (True)")
    assert true_map.rgb is not None and true_map.note == ""  # the heatmap alone over no picture
