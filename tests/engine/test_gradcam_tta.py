"""`run --tta flip` (engine.gradcam.tta): the two views' logits averaged, the plain view kept, the maps of the
original view, the mode recorded in the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.config import RunConfig
from engine.errors import UserError
from engine.models.cifar_resnet import cifar_resnet
from engine.store import load_cache, save_cache
from tests.engine.nets import FunctionalPool

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


class MirrorInvariant(nn.Module):
    """A network that sees an image and its mirror alike: its input is averaged with its mirror first."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net((x + torch.flip(x, dims=[3])) / 2)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _logits(model: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
        return model(x).numpy().astype(np.float64)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 24)


def _resnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return cifar_resnet(20, 10).eval()


def test_a_mirror_invariant_net_gives_the_same_probabilities(data, analyse_model):
    images, labels = data
    net = _resnet()
    plain, _ = analyse_model(MirrorInvariant(net), images, labels, "net.layer3", mean=MEAN, std=STD, num_classes=10)
    twin = _resnet()
    flip, printed = analyse_model(MirrorInvariant(twin), images, labels, "net.layer3", mean=MEAN, std=STD,
                                  num_classes=10, tta="flip")
    np.testing.assert_allclose(flip.cache.probs, plain.cache.probs, atol=1e-5)
    np.testing.assert_allclose(flip.cache.probs_plain, plain.cache.probs, atol=1e-5)
    np.testing.assert_allclose(flip.cache.cam_true, plain.cache.cam_true, rtol=1e-4, atol=1e-5)
    assert flip.cache.meta["tta"] == "flip" and plain.cache.meta["tta"] == "none"
    assert plain.cache.probs_plain is None and plain.tta is None
    assert flip.tta.plain.top1 == flip.tta.averaged.top1


@pytest.mark.parametrize("autograd", [False, True])
def test_flip_averages_the_two_views_logits_and_keeps_the_original_views_maps(data, analyse_model, autograd):
    images, labels = data
    reference = _resnet(1)
    expected_plain = _logits(reference, images)
    expected = (expected_plain + _logits(reference, images[:, :, ::-1].copy())) / 2
    assert not np.allclose(expected, expected_plain, atol=1e-3)  # the net does tell an image from its mirror
    plain, _ = analyse_model(_resnet(1), images, labels, "layer3", mean=MEAN, std=STD, num_classes=10, autograd=autograd)
    run, _ = analyse_model(_resnet(1), images, labels, "layer3", mean=MEAN, std=STD, num_classes=10, autograd=autograd,
                           tta="flip")
    c = run.cache
    np.testing.assert_allclose(c.logits, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(c.probs, _softmax(expected), atol=1e-5)
    np.testing.assert_allclose(c.probs_plain, _softmax(expected_plain), atol=1e-5)
    np.testing.assert_array_equal(c.topk_classes[:, 0], c.probs.argmax(1))
    # the true class's map is the original view's, whatever the mirror says
    np.testing.assert_allclose(c.cam_true, plain.cache.cam_true, rtol=1e-4, atol=1e-5)
    assert c.meta["tta"] == "flip" and c.meta["timings"]["tta_mirror_s"] > 0
    assert run.tta.plain.top1 == pytest.approx(float((expected_plain.argmax(1) == labels).mean()))
    assert run.tta.averaged.top1 == pytest.approx(float((expected.argmax(1) == labels).mean()))


def test_flip_on_a_model_without_a_linear_head(analyse_model):
    torch.manual_seed(0)
    images = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    model = FunctionalPool().eval()
    expected = (_logits(model, images) + _logits(model, images[:, :, ::-1].copy())) / 2
    run, _ = analyse_model(model, images, [0, 1, 2, 3, 0, 1], "body", batch_size=4, mean=MEAN, std=STD, tta="flip")
    assert run.cache.meta["cam_path"] == "autograd"
    np.testing.assert_allclose(run.cache.probs, _softmax(expected), atol=1e-5)


def test_the_plain_view_survives_the_cache_and_the_summary_gives_both(tmp_path, data, analyse_model):
    images, labels = data
    run, _ = analyse_model(_resnet(), images, labels, "layer3", mean=MEAN, std=STD, num_classes=10, tta="flip")
    loaded = load_cache(save_cache(run.cache, tmp_path / "cache.npz"))
    np.testing.assert_array_equal(loaded.probs_plain, run.cache.probs_plain)
    assert loaded.meta["tta"] == "flip"
    from engine.analysis.analysed_run import AnalysedRun
    from engine.reports.summary import summary_text

    text = summary_text(AnalysedRun(loaded))
    assert "Test-time augmentation (flip)" in text and "plain view" in text


def test_an_unknown_tta_mode_is_one_sentence():
    with pytest.raises(UserError, match="--tta 'crop' is not one of none, flip"):
        RunConfig(tta="crop")
