"""The model probe (engine.gradcam.probe): one forward pass of two images learns the class count, the
Grad-CAM layer and whether the head is linear (the fast path); what does not fit is one sentence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import UserError
from engine.gradcam.probe import find_layer, probe_model
from engine.models.cifar_resnet import cifar_resnet
from tests.engine.nets import FunctionalPool


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return cifar_resnet(20, 10).eval()


def test_linear_head_detected_for_resnet_last_stage_only(resnet20):
    x = torch.randn(2, 3, 32, 32)
    last = probe_model(resnet20, x, 10, "layer3")
    assert last.head is not None and last.cam_path == "linear-head"
    torch.testing.assert_close(last.head, resnet20.fc.weight)
    assert probe_model(resnet20, x, 10, "layer2").head is None
    other = FunctionalPool().eval()
    assert probe_model(other, x, 4, "body").head is None


def test_the_default_layer_is_the_last_convolutional_stage(resnet20):
    probe = probe_model(resnet20, torch.randn(2, 3, 32, 32), 10)
    assert probe.layer_name == "layer3" and probe.grid == (8, 8) and probe.num_classes == 10
    assert probe.layer(resnet20) is resnet20.layer3
    assert probe_model(resnet20, torch.randn(2, 3, 32, 32), 10, "layer2").grid == (16, 16)


class FlatHead(nn.Module):
    """Only 32x32 inputs fit the linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 32 * 32, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class NoConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize(
    "model, size, classes, layer, expected",
    [
        ("resnet20", 32, 10, "layer9",
         "The model has no layer 'layer9'; its top-level layers are conv1, bn1, relu, layer1"),
        ("resnet20", 32, 5, None, "The model predicts 10 classes but the data has 5."),
        ("flat", 16, 10, None, "The model cannot take these 16x16 images"),
        ("noconv", 32, 10, None, "Could not find a convolutional layer for Grad-CAM; name one with --target-layer."),
        ("features", 32, 10, None, "The model's output has shape (2, 64, 8, 8); expected (batch, classes) logits."),
    ],
    ids=["unknown-layer", "class-count", "input-size", "no-conv-layer", "not-logits"],
)
def test_what_does_not_fit_is_one_sentence(resnet20, model, size, classes, layer, expected):
    net = {"resnet20": resnet20, "flat": FlatHead(), "noconv": NoConv(),
           "features": nn.Sequential(*list(resnet20.children())[:-2])}[model].eval()
    with pytest.raises(UserError) as caught:
        probe_model(net, torch.randn(2, 3, size, size), classes, layer)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_find_layer_names_nested_layers(resnet20):
    assert find_layer(resnet20, "layer2.1.conv1") is resnet20.layer2[1].conv1
    with pytest.raises(UserError, match="no layer ''"):
        find_layer(resnet20, "")
