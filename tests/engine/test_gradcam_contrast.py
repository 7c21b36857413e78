"""The contrastive map of an error ("why the prediction and not the true class": the CAM formula on
d(y_pred - y_true)/dA), through the engine's own pass, against the same quantity computed independently:
torch's autograd of y_pred - y_true at the layer with the formulas written out here, and pytorch-grad-cam
with y_pred - y_true as its target. On the linear-head path (a ResNet) and on the autograd path (a model
without a plain head, and the ResNet forced onto it); zeros where the prediction is right."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM

from engine.analysis.cam_maps import display_cam
from engine.gradcam.methods import cam, contrast_from_head
from engine.models.cifar_resnet import cifar_resnet
from tests.engine.nets import FunctionalPool

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
REFERENCE = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "hirescam": HiResCAM, "layercam": LayerCAM}


def _input(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _autograd_contrast(model, layer_name, images, pred, true, method):
    """The unnormalised map of y_pred - y_true, from a hook on the layer and one torch.autograd.grad."""
    layer = dict(model.named_modules())[layer_name]
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.__setitem__("a", o))
    try:
        logits = model(_input(images))
    finally:
        handle.remove()
    act = seen["a"]
    rows = torch.arange(len(pred))
    score = (logits[rows, torch.as_tensor(pred)] - logits[rows, torch.as_tensor(true)]).sum()
    (g,) = torch.autograd.grad(score, act)
    act, g = act.detach(), g.detach()
    if method == "gradcam":
        return torch.relu((g.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1)).numpy()
    if method == "hirescam":
        return torch.relu((g * act).sum(dim=1)).numpy()
    if method == "layercam":
        return torch.relu((torch.relu(g) * act).sum(dim=1)).numpy()
    raise ValueError(method)


def _grad_cam_contrast(model, layer_name, images, pred, true, method):
    """pytorch-grad-cam's map of the target y_pred - y_true, as it shows it (min-max, resized)."""
    layer = dict(model.named_modules())[layer_name]
    targets = [lambda out, p=int(p), t=int(t): out[p] - out[t] for p, t in zip(pred, true)]
    with REFERENCE[method](model=model, target_layers=[layer]) as ref:
        return ref(input_tensor=_input(images), targets=targets)


def _resnet():
    torch.manual_seed(0)
    return cifar_resnet(20, 10).eval()


def _mixed_labels(model, images):
    """Labels the model gets right on every third image and wrong on the others."""
    with torch.no_grad():
        pred = model(_input(images)).argmax(1).numpy()
    labels = (pred + 1 + np.arange(len(pred)) % 3) % 10
    labels[::3] = pred[::3]
    return labels


@pytest.fixture(scope="module")
def resnet_data():
    model = _resnet()
    images = np.random.default_rng(0).integers(0, 256, (18, 32, 32, 3), dtype=np.uint8)
    return model, images, _mixed_labels(model, images)


def _check(c, model, layer, images, method, atol=1e-5):
    wrong = c.preds != c.labels
    assert wrong.any() and (~wrong).any()
    assert c.cam_contrast.shape == c.cam_true.shape and c.cam_contrast.dtype == np.float32
    assert not c.cam_contrast[~wrong].any()  # a right prediction has no contrast: exact zeros
    raw = _autograd_contrast(model, layer, images[wrong], c.preds[wrong], c.labels[wrong], method) \
        if method in ("gradcam", "hirescam", "layercam") else None
    if raw is not None:
        assert raw.max() > 0
        np.testing.assert_allclose(c.cam_contrast[wrong], raw, rtol=1e-4, atol=atol * raw.max())
    ref = _grad_cam_contrast(model, layer, images[wrong], c.preds[wrong], c.labels[wrong], method)
    shown = display_cam(c.cam_contrast[wrong], images.shape[1:3])
    assert np.abs(shown - ref).max() < 1e-4
    # and it is its own map, not the predicted class's
    assert np.abs(shown - display_cam(c.cam_topk[wrong, 0], images.shape[1:3])).max() > 0.05


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "hirescam"])
def test_linear_head_path_contrast_is_the_map_of_y_pred_minus_y_true(resnet_data, analyse_model, method):
    model, images, labels = resnet_data
    run, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=8, cam=method, mean=MEAN, std=STD,
                           num_classes=10)
    assert run.cache.meta["cam_path"] == "linear-head"
    _check(run.cache, model, "layer3", images, method)


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
def test_autograd_path_contrast_is_the_map_of_y_pred_minus_y_true(resnet_data, analyse_model, method):
    model, images, labels = resnet_data
    run, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=8, cam=method, mean=MEAN, std=STD,
                           num_classes=10, autograd=True)
    assert run.cache.meta["cam_path"] == "autograd"
    _check(run.cache, model, "layer3", images, method)


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "gradcampp"])
def test_autograd_net_without_a_plain_head(analyse_model, method):
    torch.manual_seed(0)
    model = FunctionalPool().eval()
    images = np.random.default_rng(1).integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        pred = model(_input(images)).argmax(1).numpy()
    labels = np.where(np.arange(16) % 2 == 0, pred, (pred + 1) % 4)
    run, _ = analyse_model(_copy(model), images, labels, "body", batch_size=4, cam=method, mean=MEAN, std=STD,
                           num_classes=4)
    assert run.cache.meta["cam_path"] == "autograd"
    _check(run.cache, model, "body", images, method)


def test_both_paths_give_the_same_contrast(resnet_data, analyse_model):
    model, images, labels = resnet_data
    fast, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=8, mean=MEAN, std=STD, num_classes=10)
    slow, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=8, mean=MEAN, std=STD, num_classes=10,
                            autograd=True)
    np.testing.assert_allclose(fast.cache.cam_contrast, slow.cache.cam_contrast, rtol=1e-4, atol=1e-6)


def test_head_formula_is_the_difference_of_the_two_class_maps_before_the_relu():
    """With a linear head the Grad-CAM contrast is ReLU(sum_k (W[b,k] - W[a,k]) A_k) / (h w): the two
    classes' maps before their ReLUs, subtracted; zeros where a == b, whatever the method."""
    torch.manual_seed(0)
    act = torch.rand(3, 6, 4, 4)
    weight = torch.randn(5, 6)
    pred, true = torch.tensor([1, 2, 4]), torch.tensor([0, 2, 3])
    got = contrast_from_head(act, weight, pred, true)
    pre = torch.einsum("bk,bkhw->bhw", weight[pred] - weight[true], act) / 16
    torch.testing.assert_close(got, torch.relu(pre))
    for method in ("gradcam", "gradcampp", "hirescam", "layercam"):
        maps = contrast_from_head(act, weight, pred, true, method)
        assert not maps[1].any() and maps[[0, 2]].max() > 0
        expected = cam(method, act, ((weight[pred] - weight[true]) / 16)[:, :, None, None])
        torch.testing.assert_close(maps[[0, 2]], expected[[0, 2]])


def _copy(model):
    """A fresh copy for the pass (it puts its model in channels-last on its device)."""
    return copy.deepcopy(model)


@pytest.mark.parametrize("autograd", [False, True], ids=["linear-head", "autograd"])
def test_contrast_on_the_shared_resnet56(analyse_model, autograd):
    from tests.conftest import need_shared

    shared = need_shared()
    model = cifar_resnet(56).eval()
    model.load_state_dict(torch.load(shared / "models" / "chenyaofo_cifar100_resnet56.pth", weights_only=True))
    images = np.load(shared / "cifar100" / "test_images.npy", mmap_mode="r")[:32].copy()
    labels = np.load(shared / "cifar100" / "test_fine_labels.npy")[:32]
    run, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=16, mean=MEAN, std=STD,
                           num_classes=100, autograd=autograd)
    _check(run.cache, model, "layer3", images, "gradcam")
