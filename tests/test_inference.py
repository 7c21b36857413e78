"""The one-pass engine: linear-head detection, out-of-memory back-off, top-k and CAM bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.cifar_resnet import cifar_resnet
from engine.errors import UserError
from engine.inference import detect_linear_head, find_layer, resolve_device, run_pass

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = cifar_resnet(20, 10).eval()
    rng = np.random.default_rng(0)
    return model, rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 40)


class FunctionalPool(nn.Module):
    """GAP done functionally and a second path into the logits: the fast path must not be assumed."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 4)
        self.skip = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3))) + self.skip(x.mean((2, 3)))


def test_linear_head_detected_for_resnet_last_stage_only(small):
    model, images, _ = small
    probe = torch.randn(2, 3, 32, 32)
    assert detect_linear_head(model, find_layer(model, "layer3"), probe) is not None
    assert detect_linear_head(model, find_layer(model, "layer2"), probe) is None
    other = FunctionalPool().eval()
    assert detect_linear_head(other, find_layer(other, "body"), probe) is None


def test_autograd_path_for_models_without_a_plain_head():
    torch.manual_seed(0)
    model = FunctionalPool().eval()
    images = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    r = run_pass(model, images, np.array([0, 1, 2, 3, 0]), MEAN, STD, "body", torch.device("cpu"), 2, topk=3)
    assert r.cam_path == "autograd"
    assert r.cam_true.shape == (5, 16, 16) and r.cam_topk.shape == (5, 3, 16, 16)
    np.testing.assert_allclose(r.probs.sum(1), 1, rtol=1e-5)


def test_topk_and_probabilities_are_consistent(small):
    model, images, labels = small
    r = run_pass(model, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 16)
    np.testing.assert_array_equal(r.topk_classes[:, 0], r.probs.argmax(1))
    assert (np.diff(np.take_along_axis(r.probs, r.topk_classes, 1), axis=1) <= 0).all()
    assert r.cam_path == "linear-head" and r.nonfinite_images == 0


class OOMOnBigBatches(nn.Module):
    def __init__(self, inner: nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.calls = inner, limit, []

    def forward(self, x):
        self.calls.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_out_of_memory_halves_the_batch_and_says_so(small, monkeypatch):
    model, images, labels = small
    monkeypatch.setattr("engine.inference.lane_count", lambda device: 1)  # as on CUDA: one lane
    wrapped = OOMOnBigBatches(model, limit=10)
    r = run_pass(wrapped, images, labels, MEAN, STD, "inner.layer3", torch.device("cpu"), 32)
    assert r.batch_size == 8
    assert r.notes == ["CUDA out of memory: batch size lowered to 16", "CUDA out of memory: batch size lowered to 8"]
    ref = run_pass(model, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 32)
    np.testing.assert_allclose(r.probs, ref.probs, atol=1e-5)


def test_nonfinite_logits_are_counted(small):
    model, images, labels = small
    broken = cifar_resnet(20, 10).eval()
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():
        broken.fc.weight[0, 0] = float("nan")
    r = run_pass(broken, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 16)
    assert r.nonfinite_images == len(labels)
    assert np.isfinite(r.probs).all()


def test_device_errors_are_user_errors():
    with pytest.raises(UserError, match="not a device name"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_cpu_lanes_give_the_one_lane_results(small, monkeypatch):
    """Sharing each batch across side-by-side CPU lanes changes speed only, on both CAM paths."""
    model, images, labels = small
    for force_autograd in (False, True):
        with monkeypatch.context() as m:
            m.setattr("engine.inference.lane_count", lambda device: 2)
            lanes = run_pass(model, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 32,
                             force_autograd=force_autograd)
        with monkeypatch.context() as m:
            m.setattr("engine.inference.lane_count", lambda device: 1)
            one = run_pass(model, images, labels, MEAN, STD, "layer3", torch.device("cpu"), 32,
                           force_autograd=force_autograd)
        np.testing.assert_array_equal(lanes.topk_classes, one.topk_classes)
        np.testing.assert_allclose(lanes.probs, one.probs, atol=1e-6)
        np.testing.assert_allclose(lanes.cam_true, one.cam_true, atol=1e-5)
        np.testing.assert_allclose(lanes.cam_topk, one.cam_topk, atol=1e-5)


def test_lane_rows_cover_every_row_once():
    from engine.cpu_lanes import split_rows

    for n in (0, 1, 7, 16, 17, 255, 256):
        for lanes in (1, 2, 3):
            rows = [i for s in split_rows(n, lanes) for i in range(n)[s]]
            assert rows == list(range(n)), (n, lanes)
