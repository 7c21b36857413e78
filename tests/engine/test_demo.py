"""The demo (engine.demo): the world, its model, the truth measurements, and the planted findings.

Fast tests use a reduced world (a few images per class). The findings are asserted on the full test world
with the shipped demo model (one pass over 2,000 images, no reports: a few seconds on two CPU cores).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from engine.analysis.analysed_run import AnalysedRun
from engine.demo import net, train, truth, world
from engine.demo.world import (
    BACKGROUNDS,
    CLASS_NAMES,
    LOOKALIKE_PAIRS,
    SPURIOUS_BACKGROUND,
    SPURIOUS_CLASS,
    make_world,
    world_backgrounds,
)
from engine.store import load_cache

# ---------------------------------------------------------------- the world


def test_small_world_shapes_masks_and_names():
    w = make_world("test", n_per_class=3)
    c = len(CLASS_NAMES)
    assert c >= 20 and len(w.superclass_names) >= 4
    assert w.images.shape == (3 * c, 32, 32, 3) and w.images.dtype == np.uint8
    assert w.labels.dtype == np.int64 and np.array_equal(np.bincount(w.labels), np.full(c, 3))
    assert w.masks.shape == (3 * c, 32, 32) and w.masks.dtype == bool
    area = w.masks.mean(axis=(1, 2))
    assert area.min() > 0.05 and area.max() < 0.5  # every image has a visible object, never the whole frame
    assert w.class_to_superclass.shape == (c,) and set(w.class_to_superclass) == set(range(len(w.superclass_names)))
    assert "demo" in w.source
    for a, b in LOOKALIKE_PAIRS:  # look-alikes share the silhouette, i.e. the superclass
        assert w.class_to_superclass[a] == w.class_to_superclass[b]
    # the object's pixels differ from the rest of the image (the mask is where the object is)
    img = w.images.astype(float)
    inside = np.array([img[i][w.masks[i]].mean(0) for i in range(len(w))])
    outside = np.array([img[i][~w.masks[i]].mean(0) for i in range(len(w))])
    assert np.abs(inside - outside).sum(1).mean() > 30


def test_world_is_deterministic_and_prefix_stable():
    a = make_world("test", n_per_class=4)
    b = make_world("test", n_per_class=4)
    for x, y in ((a.images, b.images), (a.labels, b.labels), (a.masks, b.masks)):
        assert np.array_equal(x, y)
    c = make_world("test", n_per_class=4, seed=1)
    assert not np.array_equal(a.images, c.images)
    small = make_world("test", n_per_class=2)  # a smaller world is a per-class prefix of a larger one
    keep = np.tile(np.arange(4) < 2, len(CLASS_NAMES))
    assert np.array_equal(small.images, a.images[keep]) and np.array_equal(small.masks, a.masks[keep])
    train_split = make_world("train", n_per_class=2)
    assert not np.array_equal(train_split.images, small.images)


def test_test_backgrounds_are_balanced_and_training_backgrounds_are_skewed():
    n = len(BACKGROUNDS) * 4
    test_bg = world_backgrounds("test", n_per_class=n).reshape(len(CLASS_NAMES), n)
    for row in test_bg:
        assert np.array_equal(np.bincount(row, minlength=len(BACKGROUNDS)), np.full(len(BACKGROUNDS), 4))
    train_bg = world_backgrounds("train").reshape(len(CLASS_NAMES), -1)
    on_spurious = (train_bg == SPURIOUS_BACKGROUND).mean(axis=1)
    assert on_spurious[SPURIOUS_CLASS] >= 0.9
    assert np.delete(on_spurious, SPURIOUS_CLASS).max() <= 0.05


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        make_world("validation")
    with pytest.raises(ValueError):
        make_world("test", n_per_class=0)


# ---------------------------------------------------------------- truth maths (numpy only)


def _square_mask(n: int, y: int, x: int, size: int = 8) -> np.ndarray:
    m = np.zeros((n, 32, 32), dtype=bool)
    m[:, y : y + size, x : x + size] = True
    return m


def test_pointing_game_and_background_focus_on_constructed_maps():
    masks = _square_mask(4, 0, 0)  # the object in the top-left quarter (1/16 of the image)
    cams = np.zeros((4, 8, 8), dtype=np.float32)
    cams[0, 0, 0] = 1.0  # peak on the object
    cams[1, 7, 7] = 1.0  # peak far from it
    cams[2, 1, 1] = 2.0
    cams[2, 6, 6] = 1.0  # two blobs, the stronger on the object
    # cams[3] is zero everywhere: it points nowhere, a miss, and has no focus
    assert truth.peak_inside(cams, masks).tolist() == [True, False, True, False]
    assert truth.pointing_game(cams, masks) == 0.5
    assert truth.pointing_game(cams, masks, np.array([True, False, True, False])) == 1.0
    assert np.isnan(truth.pointing_game(cams, masks, np.zeros(4, dtype=bool)))
    assert truth.background_focus(cams, masks).tolist() == [False, True, False, False]
    flat = np.ones((1, 8, 8), dtype=np.float32)  # an even smear is not background focus
    assert truth.background_focus(flat, masks[:1]).tolist() == [False]
    per_class = truth.pointing_game_per_class(cams, masks, np.array([0, 0, 1, 1]), 3)
    assert per_class[0] == 0.5 and per_class[1] == 0.5 and np.isnan(per_class[2])


def test_background_focus_per_class_uses_each_class_own_grad_cam():
    masks = _square_mask(4, 0, 0)
    on_object = np.zeros((8, 8), dtype=np.float32)
    on_object[0, 0] = 1.0
    off_object = np.zeros((8, 8), dtype=np.float32)
    off_object[6, 6] = 1.0
    labels = np.array([0, 0, 1, 2])
    preds = np.array([1, 1, 0, 2])  # three errors: 0->1, 0->1, 1->0; image 3 is right
    cam_true = np.stack([on_object, off_object, on_object, off_object])
    cam_pred = np.stack([off_object, off_object, on_object, off_object])
    bg = truth.background_focus_per_class(cam_true, cam_pred, masks, labels, preds, 4)
    assert bg.missed.tolist() == [2, 1, 0, 0] and bg.missed_background.tolist() == [1, 0, 0, 0]
    assert bg.false_alarms.tolist() == [1, 2, 0, 0] and bg.false_alarms_background.tolist() == [0, 2, 0, 0]
    assert bg.errors.tolist() == [3, 3, 0, 0]
    assert np.allclose(bg.share[:2], [1 / 3, 2 / 3]) and np.isnan(bg.share[2])


def test_truth_module_is_torch_free():
    import subprocess
    import sys

    code = "import sys, engine.demo.truth, engine.demo.world, engine.demo; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- model and checkpoint


def test_demo_net_has_the_fast_grad_cam_shape():
    from engine.gradcam.probe import probe_model

    model = net.DemoNet(len(CLASS_NAMES)).eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, len(CLASS_NAMES))
    assert isinstance(model.avgpool, torch.nn.AdaptiveAvgPool2d) and isinstance(model.fc, torch.nn.Linear)
    probe = probe_model(model, x, len(CLASS_NAMES), net.DEMO_TARGET_LAYER)
    assert probe.head is not None and probe.cam_path == "linear-head"


def test_shipped_checkpoint_is_small_and_matches_the_world():
    assert train.WEIGHTS.exists(), "run: python -m engine.demo.train --out engine/demo/weights/demo_net.pt"
    assert train.WEIGHTS.stat().st_size < 400 * 1024
    model = train.load_checkpoint(train.WEIGHTS)  # raises StaleCheckpoint if world.py changed since training
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_training_is_deterministic_and_round_trips(tmp_path):
    a = train.train_demo_net(n_per_class=2, epochs=1)
    b = train.train_demo_net(n_per_class=2, epochs=1)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    path = train.save_checkpoint(a, tmp_path / "tiny.pt", epochs=1)
    loaded = train.load_checkpoint(path)
    x = train.to_input(make_world("test", n_per_class=1).images)
    with torch.no_grad():
        assert torch.allclose(a(x), loaded(x), atol=0.05)  # float16 storage


def test_stale_checkpoint_is_refused(tmp_path):
    path = train.save_checkpoint(net.DemoNet(len(CLASS_NAMES)), tmp_path / "stale.pt")
    with pytest.raises(train.StaleCheckpoint):
        train.load_checkpoint(path, fingerprint="another world")


def test_without_shipped_weights_the_model_is_trained_once_and_cached(tmp_path, monkeypatch):
    calls = []
    real_train = train.train_demo_net

    def quick_train(progress=None, **kwargs):
        calls.append(1)
        return real_train(n_per_class=1, epochs=1, progress=progress)

    monkeypatch.setattr(train, "WEIGHTS", tmp_path / "absent" / "demo_net.pt")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(train, "train_demo_net", quick_train)
    seen = []
    first = train.load_demo_model(progress=lambda *a: seen.append(a), log=seen.append)
    assert calls == [1] and not first.training and seen
    cached = list((tmp_path / "cache" / "gradcam-tui").glob("demo_net-*.pt"))
    assert len(cached) == 1 and train.demo_checkpoint_path() == cached[0]
    second = train.load_demo_model()
    assert calls == [1]  # the cached copy is used, no second training
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- the planted findings, measured


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The shipped model on the full demo test world through the real pipeline (cache, no reports)."""
    from engine.config import RunConfig
    from engine.demo import open_subject
    from engine.run import analyse

    out = tmp_path_factory.mktemp("demo_full")
    config = RunConfig(data="demo", out=out, reports=False, device="cpu")
    quiet = Console(file=io.StringIO())
    run = analyse(open_subject(config, bars=quiet), config, console=quiet)
    return run, truth.measure(run, LOOKALIKE_PAIRS), out


def test_accuracy_is_realistic(full_run):
    run, findings, _ = full_run
    assert run.cache.meta["cam_path"] == "linear-head" and run.cache.meta["model"]["arch"] == net.DEMO_ARCH
    assert findings.num_images == len(CLASS_NAMES) * world.TEST_PER_CLASS
    assert 0.70 <= findings.accuracy <= 0.90


def test_top_confused_pairs_are_the_lookalikes(full_run):
    _, f, _ = full_run
    assert all(p.lookalike for p in f.top_pairs[:5]), [(p.true_id, p.pred_id) for p in f.top_pairs[:5]]
    assert sum(p.lookalike for p in f.top_pairs) >= 7
    planted = {tuple(sorted(p)) for p in LOOKALIKE_PAIRS}
    found = {tuple(sorted((p.true_id, p.pred_id))) for p in f.top_pairs if p.lookalike}
    assert found == planted  # every planted pair shows up among the top pairs


def test_spurious_class_has_the_highest_background_focus_share_of_errors(full_run):
    _, f, _ = full_run
    bg = f.background
    assert bg.errors[SPURIOUS_CLASS] >= 20
    order = list(f.ranking.order)  # the engine's one attention ranking
    assert order[0] == SPURIOUS_CLASS, [(CLASS_NAMES[c], bg.share[c], bg.errors[c]) for c in order[:3]]
    others = np.delete(np.nan_to_num(bg.share, nan=0.0), SPURIOUS_CLASS)
    assert bg.share[SPURIOUS_CLASS] >= others.max() + 0.15  # by a clear margin, not by noise
    # its false alarms (other classes on its training background) are where the shortcut shows most
    assert bg.false_alarms_background[SPURIOUS_CLASS] >= 0.5 * bg.false_alarms[SPURIOUS_CLASS] > 0
    # and even when right it looks at the background: the lowest pointing game of all classes
    assert int(np.nanargmin(f.pointing_game_correct_per_class)) == SPURIOUS_CLASS


def test_some_errors_are_over_confident(full_run):
    _, f, _ = full_run
    assert f.confident_errors >= 5
    assert f.confident_errors < f.num_errors


def test_temperature_scaling_lowers_held_out_ece(full_run):
    """The demo model is over-confident the way real ones are, so temperature scaling (fitted by NLL, judged
    on the half of the test set it was not fitted on) softens it (T > 1) and clearly lowers ECE."""
    run, f, _ = full_run
    cal = run.calibration
    assert float(run.cache.confidence.mean()) >= f.accuracy + 0.03  # more confident than accurate
    assert cal.temperature > 1.1 and min(cal.temperature_folds) > 1.1, (cal.temperature, cal.temperature_folds)
    assert cal.ece >= 0.04, cal.ece
    assert cal.ece_after < 0.7 * cal.ece, (cal.ece, cal.ece_after)
    assert cal.nll_after <= cal.nll, (cal.nll, cal.nll_after)


def test_pointing_game_for_correct_predictions(full_run):
    _, f, _ = full_run
    assert f.pointing_game_correct >= 0.8


def test_cache_keeps_the_masks(full_run):
    run, _, out = full_run
    loaded = load_cache(out / "cache.npz")
    assert loaded.masks is not None and np.array_equal(loaded.masks, run.cache.masks)


# ---------------------------------------------------------------- end to end, reduced world


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """`gradcam-batch demo` on a reduced world (10 images per class), reports included: seconds."""
    from engine.demo import run_demo

    out = tmp_path_factory.mktemp("demo_small")
    text = io.StringIO()
    run = run_demo(out, Console(file=text, width=120), n_per_class=10, device="cpu",
                   progress_console=Console(file=io.StringIO()))
    return run, text.getvalue(), out


def test_small_demo_end_to_end(small_demo):
    run, text, out = small_demo
    assert isinstance(run, AnalysedRun) and run.cache.num_images == 10 * len(CLASS_NAMES)
    loaded = load_cache(out / "cache.npz")
    assert loaded.masks is not None and loaded.meta["model"]["arch"] == net.DEMO_ARCH
    assert "Pointing game" in text and "look-alike" in text and "confidence" in text
    assert f"Overall accuracy: {run.metrics.top1 * 100:.2f}%" in text
    assert f"Browse it with: gradcam-tui {out / 'cache.npz'}" in text
    assert (out / "analysis_summary.txt").exists()


def test_small_demo_reports_are_complete_and_agree_with_the_cache(small_demo):
    from tests.report_checks import check_report_folder

    out = small_demo[2]
    check_report_folder(out, AnalysedRun(load_cache(out / "cache.npz")))


def test_demo_data_is_available_to_run():
    from engine.sources import open_source

    data = open_source("demo")  # registered by importing engine.demo
    assert data.masks is not None and data.num_classes == len(CLASS_NAMES)
    assert len(data) == len(CLASS_NAMES) * world.TEST_PER_CLASS
    assert Path(world.__file__).name == "world.py"


# ---------------------------------------------------------------- the analyses on the demo world


def test_the_planted_background_class_is_first_wherever_attention_is_ranked(full_run):
    """One ranking (engine.analysis.attention_ranking) in the analysis, the CSV, the summary, the advice and the
    printout; the planted class first, clear of the run's baseline, and few others ranked at all."""
    from engine.demo import print_findings
    from engine.reports.diagnosis import attention_frame
    from engine.reports.recommendations import recommendations
    from engine.reports.summary import summary_text

    run, f, _ = full_run
    ranking = run.attention_ranking
    assert ranking.order[0] == SPURIOUS_CLASS and len(ranking.order) <= 3
    assert ranking.share[SPURIOUS_CLASS].low > ranking.baseline.high
    csv = attention_frame(run).set_index("class_id")
    assert csv.loc[SPURIOUS_CLASS, "background_rank"] == 1
    assert (csv["background_rank"] > 0).sum() == len(ranking.order)
    section = summary_text(run).split("\nAttention\n")[1].split("\nLabel suspects\n")[0]
    assert f"   1. {CLASS_NAMES[SPURIOUS_CLASS]} " in section
    background = next(r for r in recommendations(run) if r.key == "background")
    assert background.finding.classes[0] == SPURIOUS_CLASS and CLASS_NAMES[SPURIOUS_CLASS] in background.evidence
    out = io.StringIO()
    print_findings(f, run.class_names, Console(file=out, width=200))
    assert f"found: first in the attention ranking: {CLASS_NAMES[SPURIOUS_CLASS]}" in out.getvalue()


def test_clean_labels_give_a_low_suspect_precision(full_run):
    """Every demo label is right: the suspects are within what clean labels drawn from the model produce,
    and the summary says few or none are likely wrong."""
    from engine.reports.recommendations import recommendations
    from engine.reports.summary import summary_text

    run, f, _ = full_run
    strong = run.suspect_precision.strong
    assert strong.observed >= 20  # the model does flag its own confident mistakes
    assert not strong.beats_null and strong.precision <= 0.15 and strong.precision_low == 0.0
    assert f.suspect_precision is run.suspect_precision
    assert "label_noise" not in {r.key for r in recommendations(run)}
    assert "Few or none of these labels are likely wrong" in " ".join(summary_text(run).split())


def test_cam_claims_carry_their_baselines_on_the_demo(full_run):
    """Same-region errors are no more common than the model's own top-1 vs top-2 agreement: not advised;
    other-region errors are, and the maps pass the random-logit check."""
    from engine.reports.recommendations import recommendations

    run, _, _ = full_run
    m = run.map_agreement
    assert not m.same_beats_baseline and m.other_beats_baseline
    keys = {r.key for r in recommendations(run)}
    assert "same_region" not in keys and "other_region" in keys
    assert run.sanity.depends_on_class


def test_lookalike_pairs_dominate_errors_within_superclasses(full_run):
    cache = full_run[0].cache
    labels, preds = cache.labels, cache.preds
    c2s = cache.class_to_superclass
    within = (labels != preds) & (c2s[labels] == c2s[preds])
    planted = {tuple(sorted(p)) for p in LOOKALIKE_PAIRS}
    lookalike = np.array([tuple(sorted((int(t), int(p)))) in planted for t, p in zip(labels, preds)])
    assert (within & lookalike).sum() / within.sum() > 0.5

