"""Faithfulness and model randomisation, the model side (engine.gradcam.faithfulness, randomisation): curves on
a model whose answer is known, the confidence change against pytorch-grad-cam, the run's members."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from engine.gradcam import faithfulness as faith
from engine.gradcam import randomisation
from engine.models.cifar_resnet import cifar_resnet
from tests.conftest import need_shared

ZERO, ONE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


class OneCell(nn.Module):
    """Logit 0 is `gain` times the sum of the pixels in the top-left 4x4 cell of an 8x8 image; logit 1 is 0.
    So p(class 0) = sigmoid(gain * sum): the cell's pixels alone decide the answer."""

    def __init__(self, gain: float = 0.05) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x):
        s = x[:, :, :4, :4].sum((1, 2, 3)) * self.gain
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def _white(n: int = 1) -> np.ndarray:
    return np.full((n, 8, 8, 3), 255, dtype=np.uint8)


def _sigmoid(v: float) -> float:
    return 1 / (1 + np.exp(-v))


def test_deleting_the_deciding_cell_first_drops_the_probability_at_step_one():
    maps = np.array([[[4.0, 3.0], [2.0, 1.0]]], dtype=np.float32)  # the deciding cell ranks first
    f = faith.measure(OneCell(), _white(), np.array([0]), maps, np.array([0]), ZERO, ONE, torch.device("cpu"))
    full = _sigmoid(0.05 * 48)  # 16 pixels x 3 channels of 1.0
    assert f.steps == 4
    np.testing.assert_allclose(f.deletion[0], [full, 0.5, 0.5, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(f.insertion[0], [0.5, full, full, full, full], atol=1e-6)


def test_deleting_the_deciding_cell_last_keeps_the_probability_until_the_last_step():
    maps = np.array([[[1.0, 3.0], [2.0, 4.0]]], dtype=np.float32)  # the deciding cell ranks last
    f = faith.measure(OneCell(), _white(), np.array([0]), maps, np.array([0]), ZERO, ONE, torch.device("cpu"))
    full = _sigmoid(0.05 * 48)
    np.testing.assert_allclose(f.deletion[0], [full, full, full, full, 0.5], atol=1e-6)
    np.testing.assert_allclose(f.insertion[0], [0.5, 0.5, 0.5, 0.5, full], atol=1e-6)


def test_the_masked_image_keeps_the_deciding_cell_in_proportion_to_its_map():
    # a map lit only on the deciding cell: after min-max scaling and upsampling the cell keeps part of its pixels
    maps = np.array([[[1.0, 0.0], [0.0, 0.0]]], dtype=np.float32)
    f = faith.measure(OneCell(), _white(), np.array([0]), maps, np.array([0]), ZERO, ONE, torch.device("cpu"))
    unit = faith.unit_maps(torch.from_numpy(maps), (8, 8))[0]
    expected = _sigmoid(0.05 * 3 * float(unit[:4, :4].sum()))
    assert f.masked[0] == pytest.approx(expected, abs=1e-6)
    assert 0.5 < f.masked[0] < f.deletion[0, 0]


def test_cell_masks_take_k_cells_over_steps_ties_by_index():
    maps = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # 9 cells, one lit, ties elsewhere
    masks = faith.cell_masks(maps, 3)
    assert masks.shape == (1, 4, 3, 3)
    assert masks[0, 0].sum() == 0 and masks[0, 3].sum() == 9
    assert masks[0, 1].flatten().tolist() == [1, 1, 0, 1, 0, 0, 0, 0, 0]  # the lit cell, then cells 0 and 1


def test_stratified_sample_takes_per_class_of_every_class():
    labels = np.repeat(np.arange(5), [30, 3, 12, 0, 20])
    idx = faith.stratified_sample(labels, 10)
    counts = np.bincount(labels[idx], minlength=5)
    assert counts.tolist() == [10, 3, 10, 0, 10]
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, faith.stratified_sample(labels, 10))  # seeded
    assert len(faith.stratified_sample(labels, None)) == len(labels)


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                                      nn.ReLU())
        self.fc = nn.Linear(16, 6)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def _agrees_with_pytorch_grad_cam(model, images, maps, mean, std):
    from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    dev = torch.device("cpu")
    model = model.eval()
    with torch.no_grad():
        x = faith.to_model_input(images, *(torch.tensor(v).view(1, 3, 1, 1) for v in (mean, std)), dev)
        classes = model(x).argmax(1).numpy()
    ours = faith.measure(model, images, np.arange(len(images)), maps, classes, mean, std, dev, rows=40)
    cams = faith.unit_maps(torch.from_numpy(maps), images.shape[1:3]).numpy()
    theirs = CamMultImageConfidenceChange()(x.contiguous(), cams, [ClassifierOutputSoftmaxTarget(int(c)) for c in classes],
                                            model)
    ours_change = ours.masked - ours.deletion[:, 0]
    assert np.abs(ours_change - np.asarray(theirs).ravel()).max() < 1e-4
    assert np.abs(ours_change).max() > 1e-3  # the maps do change the confidence: the check is not vacuous


def test_confidence_change_matches_pytorch_grad_cam_on_a_small_net():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    maps = rng.random((12, 8, 8)).astype(np.float32) * (rng.random((12, 1, 1)) > 0.2)  # some all-zero maps
    _agrees_with_pytorch_grad_cam(SmallNet(), images, maps, (0.5, 0.4, 0.3), (0.25, 0.3, 0.2))


@pytest.fixture(scope="module")
def resnet56():
    shared = need_shared()
    model = cifar_resnet(56).eval()
    model.load_state_dict(torch.load(shared / "models" / "chenyaofo_cifar100_resnet56.pth", weights_only=True))
    images = np.load(shared / "cifar100" / "test_images.npy", mmap_mode="r")[:16].copy()
    labels = np.load(shared / "cifar100" / "test_fine_labels.npy")[:16]
    return model, images, labels


def test_confidence_change_matches_pytorch_grad_cam_on_resnet56_with_its_maps(resnet56, analyse_model):
    from engine.config import CIFAR100_MEAN, CIFAR100_STD

    model, images, labels = resnet56
    run, _ = analyse_model(model, images, labels, "layer3", num_classes=100)
    _agrees_with_pytorch_grad_cam(model, images, np.asarray(run.cache.cam_topk[:, 0]), CIFAR100_MEAN, CIFAR100_STD)


def test_randomised_copy_leaves_the_model_alone_and_resets_the_head_and_the_layer():
    torch.manual_seed(0)
    model = SmallNet().eval()
    before = copy.deepcopy(model.state_dict())
    x = torch.rand(2, 3, 16, 16)
    twin, reset = randomisation.randomised_copy(model, "features.2", x)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert reset == ["features.2", "fc"]
    assert torch.equal(twin.features[0].weight, model.features[0].weight)  # before the layer: kept
    assert not torch.equal(twin.features[2].weight, model.features[2].weight)
    assert not torch.equal(twin.fc.weight, model.fc.weight)


def test_randomised_maps_differ_from_the_model_maps(analyse_model):
    torch.manual_seed(0)
    model = SmallNet().eval()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 6, 20)
    run, _ = analyse_model(model, images, labels, "features.2", num_classes=6)
    preds = run.cache.preds
    from engine.config import CIFAR100_MEAN, CIFAR100_STD

    again, _ = randomisation.randomised_maps(model, "features.2", images, preds, CIFAR100_MEAN, CIFAR100_STD,
                                             torch.device("cpu"))
    assert again.shape == run.cache.cam_topk[:, 0].shape
    assert np.abs(again - run.cache.cam_topk[:, 0]).max() > 1e-3


def _faithful_run(tmp_path, cache_format="npz", per_class=5):
    import io

    from rich.console import Console

    import engine.run
    from engine.config import RunConfig
    from engine.sources.imageset import ImageSet

    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (36, 16, 16, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(6), 6)
    data = ImageSet(images, labels, [f"c{i}" for i in range(6)], "test images")
    config = RunConfig(out=tmp_path, reports=True, device="cpu", batch_size=16, workers=0, faithfulness=True,
                       faithfulness_sample=per_class, cache_format=cache_format)
    text = io.StringIO()
    subject = engine.run.Subject(data, SmallNet().eval(), {"arch": "SmallNet"}, (0.5,) * 3, (0.25,) * 3, "features.2")
    return engine.run.analyse(subject, config, console=Console(file=text, width=200)), text.getvalue()


@pytest.mark.parametrize("cache_format", ["npz", "folder"])
def test_a_faithfulness_run_stores_its_sample_and_reports_it(tmp_path, cache_format):
    from engine.store import load_cache, resolve_cache_path

    run, printed = _faithful_run(tmp_path, cache_format)
    assert "Faithfulness: 30 images" in printed
    c = load_cache(resolve_cache_path(tmp_path))
    sampled = np.isfinite(c.faith_masked)
    assert sampled.sum() == 30 and np.bincount(c.labels[sampled]).tolist() == [5] * 6
    assert c.faith_deletion.shape == (36, 9) and c.faith_insertion.shape == (36, 9)  # 8x8 cells in 8 steps
    assert np.isnan(c.faith_deletion[~sampled]).all()
    # step 0 of deletion is the image itself: the pass's probability of its prediction
    np.testing.assert_allclose(c.faith_deletion[sampled, 0], c.confidence[sampled], atol=1e-5)
    np.testing.assert_allclose(c.faith_insertion[sampled, -1], c.confidence[sampled], atol=1e-5)
    assert np.isfinite(c.sanity_randomised_corr).sum() == 36  # the randomisation sample: every image here
    assert c.meta["model_randomisation"]["reinitialised"] == "features.2 and fc"
    assert c.meta["faithfulness"]["steps"] == 8 and c.meta["faithfulness"]["cells"] == 64
    summary = (tmp_path / "analysis_summary.txt").read_text()
    assert "Grad-CAM: faithfulness (deletion / insertion)" in summary
    assert "Model-randomisation sanity check:" in summary
    assert "Least faithful classes" in summary
    csv = (tmp_path / "faithfulness_by_class.csv").read_text().splitlines()
    assert csv[0].startswith("class_id,class_name,n,deletion_auc,deletion_auc_low")
    assert len(csv) == 7


def test_faithfulness_sample_flag_reads_all_or_a_count():
    from engine.config import RunConfig
    from engine.errors import UserError

    assert RunConfig.faithfulness_sample_of("all") is None
    assert RunConfig.faithfulness_sample_of("7") == 7
    for bad in ("0", "-3", "many"):
        with pytest.raises(UserError):
            RunConfig.faithfulness_sample_of(bad)
