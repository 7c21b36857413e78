"""The model probe (engine.gradcam.probe): one forward pass of two images learns the class count, the
Grad-CAM layer and whether the head is linear (the fast path); what does not fit is one sentence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import UserError
from engine.gradcam.probe import find_layer, probe_model
from engine.models.cifar_resnet import cifar_resnet
from tests.engine.families import build_torchvision
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
        ("noconv", 32, 10, None, "Could not find a convolutional layer for Grad-CAM (no feature map with a grid of at least 2x2"),
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


@pytest.fixture(scope="module")
def tv_resnet18():
    return build_torchvision("resnet18")[0]


@pytest.mark.parametrize(
    "layer, expected",
    [
        ("avgpool", "Layer 'avgpool' gives a 1x1 map, which cannot show where in the image the model looks; layers "
                    "with a grid on the path to the logits, last first: layer4 (2x2), layer3 (4x4), layer2 (8x8), layer1 (16x16), relu (32x32)."),
        ("fc", "Layer 'fc' gives an output of shape (2, 10) with no spatial grid; layers with a grid on the path"),
    ],
    ids=["pooling-1x1", "classifier"],
)
def test_a_degenerate_given_layer_is_refused_naming_the_candidates(tv_resnet18, layer, expected):
    with pytest.raises(UserError) as caught:
        probe_model(tv_resnet18, torch.randn(2, 3, 64, 64), 10, layer)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_at_cifar_size_a_1x1_last_stage_gives_way_to_the_last_real_grid(tv_resnet18):
    # at 32 px torchvision's ResNet-18 ends in a 1x1 layer4: the default is layer3's 2x2, never a 1x1 map
    probe = probe_model(tv_resnet18, torch.randn(2, 3, 32, 32), 10)
    assert (probe.layer_name, probe.grid) == ("layer3", (2, 2))
    with pytest.raises(UserError, match=r"Layer 'layer4' gives a 1x1 map.*last first: layer3 \(2x2\)"):
        probe_model(tv_resnet18, torch.randn(2, 3, 32, 32), 10, "layer4")


def test_a_vit_layer_whose_patch_tokens_never_reach_the_head_is_refused():
    vit, size = build_torchvision("vit_b_16")
    x = torch.randn(2, 3, size, size)
    with pytest.raises(UserError) as caught:
        probe_model(vit, x, 10, "encoder.ln")  # after the last block only the class token is read
    text = str(caught.value)
    assert text.startswith("The logits do not depend on the cells of layer 'encoder.ln'"), text
    assert "encoder.layers.encoder_layer_11.ln_1 (2x2, tokens)" in text
    probe = probe_model(vit, x, 10)
    assert probe.layer_name == "encoder.layers.encoder_layer_11.ln_1"
    assert probe.meta()["layout"] == "tokens" and probe.meta()["prefix_tokens"] == 1
    assert probe.layer_name != "conv_proj"  # the patch embedding is never the default


def test_the_layer_a_model_changes_in_place_is_read_after_the_change():
    densenet, size = build_torchvision("densenet121")
    probe = probe_model(densenet, torch.randn(2, 3, size, size), 10)
    assert probe.layer_name == "features" and probe.in_place and probe.meta()["read_after_in_place"]
