"""Grad-CAM numerics against pytorch-grad-cam (the peer reference), on the real ResNet-56 and a ResNet-34."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from engine.cam_display import display_cam
from engine.cifar_resnet import cifar_resnet
from engine.inference import run_pass
from engine.models import ARCHITECTURES
from tests.conftest import need_shared

MEAN = (0.5070, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2761)


def _reference(model, layer_name, images, targets):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    layer = dict(model.named_modules())[layer_name]
    with GradCAM(model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in targets])


def _compare(model, layer, images, labels, force_autograd, expect_path):
    result = run_pass(model, images, labels, MEAN, STD, layer, torch.device("cpu"), 8, force_autograd=force_autograd)
    assert result.cam_path == expect_path
    size = images.shape[1:3]
    ours_true = display_cam(result.cam_true, size)
    ours_pred = display_cam(result.cam_topk[:, 0], size)
    ref_true = _reference(model, layer, images, labels)
    ref_pred = _reference(model, layer, images, result.topk_classes[:, 0])
    assert np.abs(ours_true - ref_true).max() < 1e-4
    assert np.abs(ours_pred - ref_pred).max() < 1e-4
    # and the maps are not trivially equal: true and predicted differ where the model is wrong
    wrong = labels != result.topk_classes[:, 0]
    if wrong.any():
        assert np.abs(ours_true[wrong] - ours_pred[wrong]).max() > 0.05
    return result


@pytest.fixture(scope="module")
def resnet56():
    shared = need_shared()
    model = cifar_resnet(56).eval()
    model.load_state_dict(torch.load(shared / "models" / "chenyaofo_cifar100_resnet56.pth", weights_only=True))
    images = np.load(shared / "cifar100" / "test_images.npy", mmap_mode="r")[:24].copy()
    labels = np.load(shared / "cifar100" / "test_fine_labels.npy")[:24]
    return model, images, labels


def test_linear_head_path_matches_pytorch_grad_cam_on_resnet56(resnet56):
    _compare(*resnet56[:1], "layer3", *resnet56[1:], force_autograd=False, expect_path="linear-head")


def test_autograd_path_matches_pytorch_grad_cam_on_resnet56(resnet56):
    _compare(*resnet56[:1], "layer3", *resnet56[1:], force_autograd=True, expect_path="autograd")


def test_non_final_layer_uses_autograd_and_matches(resnet56):
    result = _compare(*resnet56[:1], "layer2", *resnet56[1:], force_autograd=False, expect_path="autograd")
    assert result.cam_true.shape[1:] == (16, 16)


def test_both_paths_give_the_same_raw_maps(resnet56):
    model, images, labels = resnet56
    fast = run_pass(model, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 8)
    slow = run_pass(model, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 8, force_autograd=True)
    np.testing.assert_allclose(fast.cam_topk, slow.cam_topk, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(fast.topk_classes, slow.topk_classes)


@pytest.fixture(scope="module")
def resnet34():
    torch.manual_seed(0)
    build, _ = ARCHITECTURES["resnet34"]
    model = build(100).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, 6)
    return model, images, labels


def test_resnet34_layer4_linear_head_matches(resnet34):
    model, images, labels = resnet34
    _compare(model, "layer4", images, labels, force_autograd=False, expect_path="linear-head")


def test_resnet34_layer3_autograd_matches(resnet34):
    model, images, labels = resnet34
    _compare(model, "layer3", images, labels, force_autograd=False, expect_path="autograd")


@pytest.mark.parametrize("method", ["gradcampp", "hirescam", "layercam"])
@pytest.mark.parametrize("layer", ["layer3", "layer2"])
def test_other_cam_methods_match_pytorch_grad_cam(resnet56, method, layer):
    from pytorch_grad_cam import GradCAMPlusPlus, HiResCAM, LayerCAM

    reference = {"gradcampp": GradCAMPlusPlus, "hirescam": HiResCAM, "layercam": LayerCAM}[method]
    model, images, labels = resnet56
    images, labels = images[:12], labels[:12]
    result = run_pass(model, images, labels, MEAN, STD, layer, torch.device("cpu"), 6, method=method)
    assert result.cam_path == ("linear-head" if layer == "layer3" else "autograd")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with reference(model=model, target_layers=[dict(model.named_modules())[layer]]) as cam:
        ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in labels])
    assert np.abs(display_cam(result.cam_true, (32, 32)) - ref).max() < 1e-4
