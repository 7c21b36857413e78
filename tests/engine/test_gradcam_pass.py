"""The one batched pass (engine.gradcam.one_pass, lanes, stream, device) as engine.run.analyse drives it:
top-k and probabilities, both CAM paths, CPU lanes, out-of-memory back-off, non-finite logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import UserError
from engine.gradcam.device import resolve_device
from engine.gradcam.lanes import split_rows
from engine.models.cifar_resnet import cifar_resnet
from tests.engine.nets import FunctionalPool

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = cifar_resnet(20, 10).eval()
    rng = np.random.default_rng(0)
    return model, rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 40)


def _copy(model: nn.Module) -> nn.Module:
    """A fresh copy (the pass puts its model in channels-last on its device)."""
    twin = cifar_resnet(20, 10).eval()
    twin.load_state_dict(model.state_dict())
    return twin


def test_autograd_path_for_models_without_a_plain_head(analyse_model):
    torch.manual_seed(0)
    images = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    run, _ = analyse_model(FunctionalPool().eval(), images, [0, 1, 2, 3, 0], "body", batch_size=2, mean=MEAN, std=STD)
    c = run.cache
    assert c.meta["cam_path"] == "autograd" and c.meta["target_layer"] == "body"
    assert c.cam_true.shape == (5, 16, 16) and c.cam_topk.shape == (5, 4, 16, 16)  # top-k: every one of 4 classes
    np.testing.assert_allclose(c.probs.sum(1), 1, rtol=1e-5)
    assert (c.cam_topk >= 0).all() and c.cam_topk.max() > 0
    for i in range(5):  # the true class's map is the top-k map of the same class
        k = int(np.nonzero(c.topk_classes[i] == c.labels[i])[0][0])
        np.testing.assert_allclose(c.cam_true[i], c.cam_topk[i, k], atol=1e-6)


def test_topk_and_probabilities_are_consistent(small, analyse_model):
    model, images, labels = small
    run, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=16, mean=MEAN, std=STD, num_classes=10)
    c = run.cache
    np.testing.assert_array_equal(c.topk_classes[:, 0], c.probs.argmax(1))
    assert (np.diff(np.take_along_axis(c.probs, c.topk_classes, 1), axis=1) <= 0).all()
    assert c.meta["cam_path"] == "linear-head" and c.meta["nonfinite_images"] == 0
    np.testing.assert_array_equal(c.labels, labels)
    np.testing.assert_array_equal(c.images, images)  # 32 px: stored as the model sees it
    with torch.no_grad():  # the probabilities are the model's own
        x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
        expected = torch.softmax(model(x), dim=1).numpy()
    np.testing.assert_allclose(c.probs, expected, atol=1e-5)


class OOMOnBigBatches(nn.Module):
    """Runs out of (simulated) CUDA memory on batches above `limit` images; the probe (the first call)
    always fits."""

    def __init__(self, inner: nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.calls = inner, limit, []

    def forward(self, x):
        self.calls.append(x.shape[0])
        if len(self.calls) > 1 and x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_out_of_memory_halves_the_batch_and_says_so(small, analyse_model, monkeypatch):
    model, images, labels = small
    monkeypatch.setattr("engine.gradcam.one_pass.lane_count", lambda device: 1)  # as on CUDA: one lane
    wrapped = OOMOnBigBatches(_copy(model), limit=10)
    run, printed = analyse_model(wrapped, images, labels, "inner.layer3", batch_size=32, mean=MEAN, std=STD,
                                 num_classes=10)
    assert run.cache.meta["batch_size"] == 8
    assert "CUDA out of memory: batch size lowered to 16" in printed
    assert "CUDA out of memory: batch size lowered to 8" in printed
    assert wrapped.calls[1:4] == [32, 16, 8] and max(wrapped.calls[4:]) <= 8  # later batches keep the smaller size
    ref, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=32, mean=MEAN, std=STD, num_classes=10)
    np.testing.assert_allclose(run.cache.probs, ref.cache.probs, atol=1e-5)
    np.testing.assert_allclose(run.cache.cam_true, ref.cache.cam_true, atol=1e-5)


def test_out_of_memory_at_batch_size_1_is_one_sentence(small, analyse_model, monkeypatch):
    model, images, labels = small
    monkeypatch.setattr("engine.gradcam.one_pass.lane_count", lambda device: 1)
    with pytest.raises(UserError, match="CUDA ran out of memory even with batch size 1; try --device cpu."):
        analyse_model(OOMOnBigBatches(_copy(model), limit=0), images[:4], labels[:4], "inner.layer3", batch_size=2,
                      mean=MEAN, std=STD, num_classes=10)


def test_nonfinite_logits_are_counted(small, analyse_model):
    model, images, labels = small
    broken = _copy(model)
    with torch.no_grad():
        broken.fc.weight[0, 0] = float("nan")
    run, printed = analyse_model(broken, images, labels, "layer3", batch_size=16, mean=MEAN, std=STD, num_classes=10)
    assert run.cache.meta["nonfinite_images"] == len(labels)
    assert np.isfinite(run.cache.probs).all() and np.isfinite(run.cache.logits).all()
    assert f"non-finite logits (NaN/inf) for {len(labels)} of {len(labels)} images" in printed


def test_device_errors_are_user_errors():
    with pytest.raises(UserError, match="not a device name"):
        resolve_device("gpu0")
    with pytest.raises(UserError, match="is not supported; use cpu, cuda"):
        resolve_device("meta")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("autograd", [False, True], ids=["linear-head", "autograd"])
def test_cpu_lanes_give_the_one_lane_results(small, analyse_model, monkeypatch, autograd):
    """Sharing each batch across side-by-side CPU lanes changes speed only, on both CAM paths."""
    model, images, labels = small
    lanes_used = []

    def lanes(n):
        def count(device):
            lanes_used.append(n)
            return n

        return count

    monkeypatch.setattr("engine.gradcam.one_pass.lane_count", lanes(2))
    two, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=32, mean=MEAN, std=STD,
                           num_classes=10, autograd=autograd)
    monkeypatch.setattr("engine.gradcam.one_pass.lane_count", lanes(1))
    one, _ = analyse_model(_copy(model), images, labels, "layer3", batch_size=32, mean=MEAN, std=STD,
                           num_classes=10, autograd=autograd)
    assert lanes_used == [2, 1]
    assert two.cache.meta["cam_path"] == one.cache.meta["cam_path"] == ("autograd" if autograd else "linear-head")
    np.testing.assert_array_equal(two.cache.topk_classes, one.cache.topk_classes)
    np.testing.assert_allclose(two.cache.probs, one.cache.probs, atol=1e-6)
    np.testing.assert_allclose(two.cache.cam_true, one.cache.cam_true, atol=1e-5)
    np.testing.assert_allclose(two.cache.cam_topk, one.cache.cam_topk, atol=1e-5)


def test_lane_rows_cover_every_row_once():
    for n in (0, 1, 7, 16, 17, 255, 256):
        for lanes in (1, 2, 3):
            rows = [i for s in split_rows(n, lanes) for i in range(n)[s]]
            assert rows == list(range(n)), (n, lanes)
    assert len(split_rows(15, 2)) == 1  # fewer than 8 rows a lane: one lane
    assert len(split_rows(16, 2)) == 2


class NoVmapRule(torch.autograd.Function):
    """An identity whose backward cannot be vmapped (it reads a value out of the gradient)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * (1.0 if g.sum().item() == g.sum().item() else 1.0)


def test_one_batched_backward_gives_every_target_as_one_backward_each():
    from engine.gradcam.methods import cams_by_autograd, target_gradients

    torch.manual_seed(0)
    act = torch.randn(3, 8, 4, 4, requires_grad=True)
    head = nn.Linear(8 * 16, 6)
    logits = head(torch.tanh(act).flatten(1))
    classes = torch.tensor([[0, 5, 1], [2, 2, 3], [4, 0, 1]])
    batched, used = target_gradients(logits, act, classes)
    assert used and batched.shape == (3, 3, 8, 4, 4)
    for t in range(3):  # each rank's gradient is d logits[b, classes[b, t]] / d act
        score = logits.gather(1, classes[:, t : t + 1]).sum()
        (expected,) = torch.autograd.grad(score, act, retain_graph=True)
        torch.testing.assert_close(batched[t], expected)
    one_each, single = target_gradients(logits, act, classes, batched=False)  # frees the graph
    assert not single
    torch.testing.assert_close(batched, one_each)
    opaque = head(NoVmapRule.apply(torch.tanh(act)).flatten(1))
    cams, used = cams_by_autograd(act, opaque, classes)
    assert not used and cams.shape == (3, 3, 4, 4)  # fell back to one backward per rank, same maps
    plain = head(torch.tanh(act).flatten(1))
    torch.testing.assert_close(cams, cams_by_autograd(act, plain, classes)[0])
