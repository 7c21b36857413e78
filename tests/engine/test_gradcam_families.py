"""Every family of torchvision's classification builders through the engine's own pass (engine.run.analyse:
the probe chooses the layer, then stream_pass), at a small input with seeded random weights: the layer is
the family's last feature stage with a grid of at least 2x2 (never pooling, a classifier or the patch
embedding), and the maps equal pytorch-grad-cam's GradCAM at that layer (with its reshape_transform for
NHWC and token layouts) to 1e-4. One member per family here; benchmarks/bench_families.py walks them all."""

from __future__ import annotations

import numpy as np
import pytest
import torchvision

from engine.analysis.any_class_maps import cams_from_activations, stores_any_class
from engine.analysis.cam_maps import display_cam
from tests.engine.families import IMAGENET_MEAN, IMAGENET_STD, build_torchvision, expected_layer, family, live, reference_maps

# the smallest member of each family (the walk over all 80 builders takes about 10 minutes on 2 cores)
REPRESENTATIVES = [
    "alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s", "googlenet", "inception_v3",
    "maxvit_t", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small", "regnet_x_400mf", "regnet_y_400mf", "resnet18",
    "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_1", "swin_t", "swin_v2_t", "vgg11", "vit_b_16",
    "wide_resnet50_2",
]
# the path each family's head allows: linear-head where pooling -> (dropout | flatten)* -> linear is the head
AUTOGRAD = {"alexnet", "convnext", "maxvit", "mobilenet_v3", "squeezenet", "vgg", "vit"}
IMAGES = 3
CLASSES = 10


def test_every_torchvision_family_has_a_representative():
    builders = torchvision.models.list_models(module=torchvision.models)
    assert {family(n) for n in builders} == {family(n) for n in REPRESENTATIVES}
    assert set(REPRESENTATIVES) <= set(builders)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_family_layer_and_maps_match_pytorch_grad_cam(name, analyse_model):
    model, size = build_torchvision(name, CLASSES)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (IMAGES, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, IMAGES)
    run, _ = analyse_model(model, images, labels, batch_size=IMAGES, num_classes=CLASSES, mean=IMAGENET_MEAN,
                           std=IMAGENET_STD)
    meta = run.cache.meta
    layer, layer_map = meta["target_layer"], meta["target_layer_map"]
    assert layer == expected_layer(name, model)
    assert min(layer_map["grid"]) >= 2 and tuple(run.cache.cam_true.shape[1:]) == tuple(layer_map["grid"])
    assert layer_map["chosen"] == "default"
    assert meta["cam_path"] == ("autograd" if family(name) in AUTOGRAD else "linear-head")
    if family(name) == "swin" or family(name) == "swin_v2":
        assert layer_map["layout"] == "NHWC"
    if family(name) == "vit":
        assert layer_map["layout"] == "tokens" and layer_map["prefix_tokens"] == 1
    if family(name) == "densenet":
        assert layer_map["read_after_in_place"]  # F.relu(features, inplace=True) follows the layer
    c = run.cache  # the pooled features on both paths; any class's map from what the linear-head path stored
    assert c.features.shape == (IMAGES, layer_map["channels"]) and np.isfinite(c.features).all()
    assert stores_any_class(c) == (meta["cam_path"] == "linear-head")
    if stores_any_class(c):
        for i in range(IMAGES):
            classes = c.topk_classes[i]
            maps = (c.cam_all[i, classes].astype(np.float32) * c.cam_all_scale[i] if c.cam_all is not None else
                    cams_from_activations(c.cam_activations[i], c.head_weights, classes, meta["cam_method"]))
            peak = max(float(c.cam_topk[i].max()), 1e-12)
            assert np.abs(maps - c.cam_topk[i]).max() < 3e-3 * peak, i

    ours_true = display_cam(run.cache.cam_true, (size, size))
    predicted = run.cache.topk_classes[:, 0]
    ours_pred = display_cam(run.cache.cam_topk[:, 0], (size, size))
    ref_true = reference_maps(model, layer, layer_map, images, labels)
    ref_pred = reference_maps(model, layer, layer_map, images, predicted)
    assert live(ref_true) > 0  # the maps are not flat, so the comparison can fail
    np.testing.assert_allclose(ours_true, ref_true, atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours_pred, ref_pred, atol=1e-4, rtol=0)


def test_the_in_place_rule_holds_on_the_autograd_path_too(analyse_model):
    # DenseNet's forward applies F.relu(features, inplace=True): both paths read the map after that change
    model, size = build_torchvision("densenet121", CLASSES)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (IMAGES, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, IMAGES)
    kw = dict(batch_size=IMAGES, num_classes=CLASSES, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    fast, _ = analyse_model(model, images, labels, **kw)
    slow, _ = analyse_model(model, images, labels, autograd=True, **kw)
    assert (fast.cache.meta["cam_path"], slow.cache.meta["cam_path"]) == ("linear-head", "autograd")
    np.testing.assert_allclose(slow.cache.cam_topk, fast.cache.cam_topk, rtol=1e-4, atol=1e-6)
    ref = reference_maps(model, "features", slow.cache.meta["target_layer_map"], images, labels)
    np.testing.assert_allclose(display_cam(slow.cache.cam_true, (size, size)), ref, atol=1e-4, rtol=0)
