"""Any class's map from what the pass stores: the numpy formula (engine.analysis.any_class_maps) against the
pass's own maps for the classes it computed, for each method; which of activations and every class's maps
a run stores (engine.gradcam.any_class), within the budget; the autograd path stores neither; the new
members round-trip through both cache forms and are checked on load."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.analysis.any_class_maps import cam_of, cams_from_activations, stores_any_class, why_not_any_class
from engine.errors import CacheError
from engine.gradcam.any_class import ACTIVATIONS, BUDGET, MAPS, plan_any_class
from engine.models.cifar_resnet import cifar_resnet
from engine.store import load_cache, save_cache
from tests.engine.nets import FunctionalPool
from tests.synthetic import synthetic_cache, with_any_class

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
METHODS = ("gradcam", "gradcampp", "hirescam", "layercam")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 24)


def _net(num_classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return cifar_resnet(20, num_classes).eval()


def _layer3_fp32(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """The Grad-CAM layer's activations in fp32, from a forward pass of our own."""
    got = {}
    hook = model.layer3.register_forward_hook(lambda m, i, o: got.setdefault("act", o.detach().float()))
    try:
        with torch.no_grad():
            x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
            model.float()(x.contiguous())
    finally:
        hook.remove()
    return got["act"].contiguous().numpy()


def _stored_pairs(c):
    """(image, class, the pass's map) for every map the pass stored."""
    for i in range(c.num_images):
        yield i, int(c.labels[i]), c.cam_true[i]
        for r, k in enumerate(c.topk_classes[i]):
            yield i, int(k), c.cam_topk[i, r]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-12))


@pytest.mark.parametrize("method", METHODS)
def test_the_formula_gives_the_pass_maps_for_the_stored_classes(method, images, analyse_model):
    x, labels = images
    model = _net(100)  # 100 classes x 8x8 > 64 channels x 8x8: the activations are the smaller
    run, printed = analyse_model(model, x, labels, "layer3", batch_size=8, cam=method, mean=MEAN, std=STD,
                                 num_classes=100)
    c = run.cache
    assert c.meta["cam_path"] == "linear-head" and c.meta["any_class_maps"]["stored"] == ACTIVATIONS
    assert "Any class's map: stored as the layer's activations" in printed
    assert c.cam_activations.shape == (24, 64, 8, 8) and c.cam_activations.dtype == np.float16
    assert c.head_weights.shape == (100, 64) and c.cam_all is None and stores_any_class(c)
    exact = _layer3_fp32(model, x)
    np.testing.assert_allclose(c.cam_activations, exact, rtol=2e-3, atol=2e-3 * np.abs(exact).max())
    worst_exact = worst_stored = 0.0
    for i, k, pass_map in _stored_pairs(c):
        worst_exact = max(worst_exact, _rel(cams_from_activations(exact[i], c.head_weights, [k], method)[0], pass_map))
        from_fp16 = cams_from_activations(c.cam_activations[i], c.head_weights, [k], method)[0]
        worst_stored = max(worst_stored, _rel(from_fp16, pass_map))
    assert worst_exact < 1e-5  # the same activations: the same maps to float32 rounding
    assert worst_stored < 3e-3  # from the fp16 activations: within fp16's rounding
    others = [k for k in range(100) if k not in c.topk_classes[0] and k != c.labels[0]]
    m = cam_of(c, 0, others[0])  # a class the pass did not compute: from the activations
    np.testing.assert_allclose(m, cams_from_activations(exact[0], c.head_weights, [others[0]], method)[0],
                               atol=3e-3 * max(float(m.max()), 1e-6))


def test_every_class_maps_are_stored_where_smaller_and_match_the_pass(images, analyse_model):
    x, labels = images
    run, printed = analyse_model(_net(10), x, labels, "layer3", batch_size=8, cam="gradcampp", mean=MEAN, std=STD,
                                 num_classes=10)
    c = run.cache  # 10 classes x 8x8 < 64 channels x 8x8: every class's map is the smaller
    assert c.meta["any_class_maps"]["stored"] == MAPS and "every class's map" in printed
    assert c.cam_all.shape == (24, 10, 8, 8) and c.cam_activations is None and c.head_weights is None
    for i, k, pass_map in _stored_pairs(c):
        assert _rel(c.cam_all[i, k].astype(np.float32) * c.cam_all_scale[i], pass_map) < 1e-3
        assert _rel(cam_of_stored_form(c, i, k), pass_map) < 1e-3
    assert cam_of(c, 3, 7) is not None and c.features.shape == (24, 64)


def cam_of_stored_form(cache, i: int, k: int) -> np.ndarray:
    """cam_of, made to read every class's stored maps rather than the pass's own map of a stored class."""
    import dataclasses

    return cam_of(dataclasses.replace(cache, cam_topk=np.zeros_like(cache.cam_topk) + np.nan,
                                      topk_classes=np.full_like(cache.topk_classes, -1),
                                      labels=np.full_like(cache.labels, -1)), i, k)


def test_every_class_maps_of_a_tiny_head_keep_their_size(images, analyse_model):
    """A map far below fp16's smallest number (a freshly initialised head gives 1e-10) is stored over its
    image's largest value, so it comes back as the pass drew it, not as zeros."""
    import torch

    x, labels = images
    net = _net(10)
    with torch.no_grad():
        net.fc.weight.mul_(1e-9)
    run, _ = analyse_model(net, x, labels, "layer3", batch_size=8, mean=MEAN, std=STD, num_classes=10)
    c = run.cache
    assert c.meta["any_class_maps"]["stored"] == MAPS and float(c.cam_topk.max()) < 1e-6
    for i, k, pass_map in _stored_pairs(c):
        assert _rel(cam_of_stored_form(c, i, k), pass_map) < 1e-3


def test_the_smaller_form_is_chosen_and_nothing_over_the_budget():
    p = plan_any_class(10_000, 100, 64, (8, 8), True)  # ResNet-56 on CIFAR-100
    assert p.kind == ACTIVATIONS and p.bytes == 10_000 * 64 * 64 * 2 + 100 * 64 * 4
    assert plan_any_class(10_000, 10, 64, (8, 8), True).kind == MAPS
    big = plan_any_class(50_000, 1000, 512, (7, 7), True)  # ImageNet val on ResNet-18: 2.3 GiB
    assert big.kind is None and big.bytes == 0 and "over the 1.00 GiB budget" in big.why
    assert plan_any_class(50_000, 1000, 512, (7, 7), True, budget=4 * BUDGET).kind == ACTIVATIONS
    auto = plan_any_class(100, 10, 64, (8, 8), False)
    assert auto.kind is None and "autograd" in auto.why


def test_the_autograd_path_stores_only_the_features(analyse_model):
    torch.manual_seed(0)
    x = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    run, printed = analyse_model(FunctionalPool().eval(), x, [0, 1, 2, 3, 0, 1], "body", batch_size=4,
                                 mean=MEAN, std=STD)
    c = run.cache
    assert c.meta["cam_path"] == "autograd" and "Any class's map: not stored: on the autograd path" in printed
    assert c.cam_activations is None and c.cam_all is None and c.head_weights is None and not stores_any_class(c)
    assert c.features is not None and c.features.shape[0] == 6
    assert "not available for this model's path (autograd)" in why_not_any_class(c)


def _with_members(kind: str):
    return with_any_class(synthetic_cache(), kind)


@pytest.mark.parametrize("kind", [ACTIVATIONS, MAPS])
@pytest.mark.parametrize("form", ["cache.npz", "cache"])
def test_the_members_round_trip_through_both_forms(kind, form, tmp_path):
    c = _with_members(kind)
    back = load_cache(save_cache(c, tmp_path / form))
    for name in ("features", "cam_activations", "head_weights", "cam_all"):
        want = getattr(c, name)
        assert (getattr(back, name) is None) == (want is None), name
        if want is not None:
            np.testing.assert_array_equal(getattr(back, name), want)
            assert getattr(back, name).dtype == want.dtype
    assert stores_any_class(back)


@pytest.mark.parametrize("change, what", [
    (dict(head_weights=None), "without the head's weights"),
    (dict(head_weights=np.zeros((3, 6), np.float32)), "head weights"),
    (dict(features=np.zeros((96, 5), np.float16)), "different widths"),
    (dict(cam_activations=np.zeros((96, 6, 4, 4), np.float16)), "layer activations"),
])
def test_members_that_disagree_are_refused_on_load(change, what, tmp_path):
    c = dataclasses.replace(_with_members(ACTIVATIONS), **change)
    path = save_cache(c, tmp_path / "cache.npz")
    with pytest.raises(CacheError, match=what):
        load_cache(path)
