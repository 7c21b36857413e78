"""Every run flag in one place (engine.config.RunConfig), checked once before any data or model is touched;
and the cache format a run writes (engine.run.choose_cache_format)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.config import CAM_METHODS, RunConfig
from engine.errors import UserError
from engine.run import choose_cache_format


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"arch": "cifar_resnet20", "model": "m.py:build"}, "Give either --arch or --model, not both."),
        ({"cache_format": "zip"}, "--cache-format 'zip' is not one of auto, npz, folder."),
        ({"cam": "scorecam"}, "Unknown CAM method 'scorecam'; choose one of gradcam, gradcampp, hirescam, layercam."),
        ({"workers": -1}, "--workers -1: give 0"),
        ({"display_size": 0}, "--display-size 0 is not a size in pixels"),
        ({"image_size": 0}, "--image-size 0 is not a size in pixels"),
        ({"batch_size": 0}, "--batch-size 0: give a positive number of images."),
        ({"limit": 0}, "--limit 0: give a positive number of images."),
        ({"weights": "ResNet50_Weights.IMAGENET1K_V2", "image_size": 224},
         "--weights sets the image size, mean and std"),
        ({"mean": (0.5, float("nan"), 0.5)}, "--mean 0.5 nan 0.5: every value must be a finite number."),
        ({"std": (0.5, 0.0, 0.5)}, "--std 0.5 0.0 0.5: every value must be above 0."),
    ],
    ids=["arch-and-model", "cache-format", "cam", "workers", "display-size", "image-size", "batch-size", "limit",
         "weights-and-size", "mean-nan", "std-zero"],
)
def test_every_bad_flag_is_one_sentence(flags, expected):
    with pytest.raises(UserError) as caught:
        RunConfig(**flags)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_defaults_and_names():
    config = RunConfig()
    assert config.data == "demo" and config.uses_demo_model and config.cam_name == "Grad-CAM"
    assert not dataclasses.replace(config, arch="cifar_resnet20").uses_demo_model
    assert set(CAM_METHODS) == {"gradcam", "gradcampp", "hirescam", "layercam"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 1  # type: ignore[misc]


def test_the_demo_writes_into_a_folder_named_demo(tmp_path, monkeypatch):
    """The demo's data is generated, not a folder: an --out called `demo` in the working folder (there from
    the demo's last run) is fine."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    assert RunConfig(out=tmp_path / "demo").out == tmp_path / "demo"
    assert RunConfig(out="demo/results").data == "demo"


def test_large_runs_write_a_cache_folder():
    assert choose_cache_format("auto", 10_000, (32, 32)) == "npz"
    assert choose_cache_format("auto", 200_001, (32, 32)) == "folder"
    assert choose_cache_format("auto", 50_000, (128, 128)) == "folder"  # 2.3 GiB of images
    assert choose_cache_format("npz", 10**6, (128, 128)) == "npz"
    assert choose_cache_format("folder", 10, (32, 32)) == "folder"
