"""Grad-CAM numerics against pytorch-grad-cam (the peer reference), on the real ResNet-56 and a ResNet-34,
through the engine's own pass as every run drives it (engine.run.analyse: probe, then stream_pass)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from engine.analysis.cam_maps import display_cam
from engine.models import ARCHITECTURES
from engine.models.cifar_resnet import cifar_resnet
from tests.conftest import CIFAR_MEAN as MEAN
from tests.conftest import CIFAR_STD as STD
from tests.conftest import need_shared

REFERENCE = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "hirescam": HiResCAM, "layercam": LayerCAM}


def _reference(model, layer_name, images, targets, method="gradcam"):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    layer = dict(model.named_modules())[layer_name]
    with REFERENCE[method](model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in targets])


def _compare(analyse_model, model, layer, images, labels, autograd, expect_path, num_classes=100):
    run, _ = analyse_model(model, images, labels, layer, batch_size=8, autograd=autograd, num_classes=num_classes)
    c = run.cache
    assert c.meta["cam_path"] == expect_path and c.meta["target_layer"] == layer
    size = images.shape[1:3]
    ours_true = display_cam(c.cam_true, size)
    ours_pred = display_cam(c.cam_topk[:, 0], size)
    ref_true = _reference(model, layer, images, labels)
    ref_pred = _reference(model, layer, images, c.topk_classes[:, 0])
    assert np.abs(ours_true - ref_true).max() < 1e-4
    assert np.abs(ours_pred - ref_pred).max() < 1e-4
    # and the maps are not trivially equal: true and predicted differ where the model is wrong
    wrong = labels != c.topk_classes[:, 0]
    assert wrong.any()
    assert np.abs(ours_true[wrong] - ours_pred[wrong]).max() > 0.05
    return c


@pytest.fixture(scope="module")
def resnet56():
    shared = need_shared()
    model = cifar_resnet(56).eval()
    model.load_state_dict(torch.load(shared / "models" / "chenyaofo_cifar100_resnet56.pth", weights_only=True))
    images = np.load(shared / "cifar100" / "test_images.npy", mmap_mode="r")[:24].copy()
    labels = np.load(shared / "cifar100" / "test_fine_labels.npy")[:24]
    return model, images, labels


def test_linear_head_path_matches_pytorch_grad_cam_on_resnet56(resnet56, analyse_model):
    _compare(analyse_model, resnet56[0], "layer3", *resnet56[1:], autograd=False, expect_path="linear-head")


def test_autograd_path_matches_pytorch_grad_cam_on_resnet56(resnet56, analyse_model):
    _compare(analyse_model, resnet56[0], "layer3", *resnet56[1:], autograd=True, expect_path="autograd")


def test_non_final_layer_uses_autograd_and_matches(resnet56, analyse_model):
    cache = _compare(analyse_model, resnet56[0], "layer2", *resnet56[1:], autograd=False, expect_path="autograd")
    assert cache.cam_true.shape[1:] == (16, 16)


def test_both_paths_give_the_same_raw_maps(resnet56, analyse_model):
    model, images, labels = resnet56
    fast, _ = analyse_model(model, images, labels, "layer3", batch_size=8, num_classes=100)
    slow, _ = analyse_model(model, images, labels, "layer3", batch_size=8, num_classes=100, autograd=True)
    assert (fast.cache.meta["cam_path"], slow.cache.meta["cam_path"]) == ("linear-head", "autograd")
    np.testing.assert_allclose(fast.cache.cam_topk, slow.cache.cam_topk, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast.cache.cam_true, slow.cache.cam_true, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(fast.cache.topk_classes, slow.cache.topk_classes)


@pytest.fixture(scope="module")
def resnet34():
    torch.manual_seed(0)
    build, _ = ARCHITECTURES["resnet34"]
    model = build(100).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, 6)
    return model, images, labels


def test_resnet34_layer4_linear_head_matches(resnet34, analyse_model):
    model, images, labels = resnet34
    _compare(analyse_model, model, "layer4", images, labels, autograd=False, expect_path="linear-head")


def test_resnet34_layer3_autograd_matches(resnet34, analyse_model):
    model, images, labels = resnet34
    _compare(analyse_model, model, "layer3", images, labels, autograd=False, expect_path="autograd")


@pytest.mark.parametrize("method", ["gradcampp", "hirescam", "layercam"])
@pytest.mark.parametrize("layer", ["layer3", "layer2"])
def test_other_cam_methods_match_pytorch_grad_cam(resnet56, analyse_model, method, layer):
    model, images, labels = resnet56
    images, labels = images[:12], labels[:12]
    run, _ = analyse_model(model, images, labels, layer, batch_size=6, cam=method, num_classes=100)
    c = run.cache
    assert c.meta["cam_method"] == method
    assert c.meta["cam_path"] == ("linear-head" if layer == "layer3" else "autograd")
    ref = _reference(model, layer, images, labels, method)
    assert np.abs(display_cam(c.cam_true, (32, 32)) - ref).max() < 1e-4
