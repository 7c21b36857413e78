"""timm models (the optional extra; skipped without timm): four families through the engine's own pass at
small inputs with seeded random weights: the probe's layer and path, and the maps equal pytorch-grad-cam's
GradCAM at that layer (with its reshape_transform for token layouts) to 1e-4; `--arch timm/NAME` loads a
timm state_dict with timm's own normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.analysis.cam_maps import display_cam
from engine.errors import UserError
from engine.models import load_model
from tests.engine.families import TIMM_MODELS, build_timm, live, reference_maps

timm = pytest.importorskip("timm", reason="timm is an optional extra: pip install 'gradcam-tui[timm]'")

IMAGES, CLASSES = 3, 10


@pytest.mark.parametrize("name,size,options,layer,path", TIMM_MODELS, ids=[m[0] for m in TIMM_MODELS])
def test_timm_family_layer_and_maps_match_pytorch_grad_cam(name, size, options, layer, path, analyse_model):
    model = build_timm(name, options, CLASSES)
    cfg = model.pretrained_cfg
    mean, std = tuple(cfg["mean"]), tuple(cfg["std"])
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (IMAGES, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, IMAGES)
    run, _ = analyse_model(model, images, labels, batch_size=IMAGES, num_classes=CLASSES, mean=mean, std=std)
    meta = run.cache.meta
    assert (meta["target_layer"], meta["cam_path"]) == (layer, path)
    layer_map = meta["target_layer_map"]
    assert min(layer_map["grid"]) >= 2
    ours_true = display_cam(run.cache.cam_true, (size, size))
    ours_pred = display_cam(run.cache.cam_topk[:, 0], (size, size))
    ref_true = reference_maps(model, layer, layer_map, images, labels, mean, std)
    ref_pred = reference_maps(model, layer, layer_map, images, run.cache.topk_classes[:, 0], mean, std)
    assert live(ref_true) > 0
    np.testing.assert_allclose(ours_true, ref_true, atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours_pred, ref_pred, atol=1e-4, rtol=0)


def test_arch_timm_loads_a_timm_state_dict_with_its_normalisation(tmp_path):
    model = build_timm("resnet18", {}, CLASSES)
    path = tmp_path / "timm_resnet18.pth"
    torch.save(model.state_dict(), path)
    loaded = load_model(path, CLASSES, arch="timm/resnet18")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x))
    assert loaded.meta["arch_source"] == "timm resnet18"
    assert (loaded.mean, loaded.std) == (tuple(model.pretrained_cfg["mean"]), tuple(model.pretrained_cfg["std"]))


def test_unknown_timm_model_is_one_sentence_with_suggestions(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(UserError, match=r"has no model 'resnet181'; did you mean timm/resnet18"):
        load_model(path, CLASSES, arch="timm/resnet181")
