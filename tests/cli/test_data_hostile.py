"""Data sets from strangers given to `gradcam-batch run`: each bad one is one clear sentence and exit 2
before the pass, an odd one (grey images, an empty class, names with '/' or HTML) runs and stays inside the
output folder."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
import torch

from engine.store import load_cache
from tests.conftest import PNG_MAGIC

N_CLASSES = 10


def test_missing_empty_and_file_data_paths(small_world, cli, tmp_path):
    out = tmp_path / "out"
    cli(*small_world.run_args(out, data=tmp_path / "nope")).refused(f"No data at {tmp_path / 'nope'}",
                                                                    "expected an arrays folder")
    (tmp_path / "empty").mkdir()
    cli(*small_world.run_args(out, data=tmp_path / "empty")).refused("Found no data set in", "ImageFolder")
    (tmp_path / "file.npy").write_bytes(b"x")
    cli(*small_world.run_args(out, data=tmp_path / "file.npy")).refused("is a file")


def test_image_folder_of_mixed_sizes_is_refused_unless_resized_explicitly(small_world, image_folder, cli, tmp_path):
    specs = {f"c{i}": [(16, 16, "RGB"), (24, 20, "RGB")] for i in range(N_CLASSES)}
    folder = image_folder(tmp_path / "imgs", specs=specs)
    out = tmp_path / "out"
    line = cli(*small_world.run_args(out, "--workers", "0", data=folder)).refused(
        "is 24x20 but the first image is 16x16", "--image-size")
    assert not (out / "cache.npz").exists()
    assert [p.name for p in out.iterdir()] == []  # no temporary cache left behind
    outcome = cli(*small_world.run_args(out, "--image-size", "16", "--no-reports", "--workers", "0",
                                        data=folder)).completed()
    assert "Predictions collected for 20 images" in outcome.out and line


def test_grey_and_rgba_images_are_converted_to_rgb(small_world, image_folder, cli, tmp_path):
    folder = image_folder(tmp_path / "imgs", specs={f"c{i}": [(16, 16, "L"), (16, 16, "RGBA"), (16, 16, "P")]
                                                    for i in range(N_CLASSES)})
    cli(*small_world.run_args(tmp_path, "--no-reports", "--workers", "0", data=folder)).completed()
    cache = load_cache(tmp_path / "cache.npz")
    assert cache.images.shape == (30, 16, 16, 3)
    grey = cache.images[0]
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


@pytest.mark.parametrize("shape", [(20, 16, 16), (20, 16, 16, 4), (20, 16, 16, 1)], ids=["grey", "rgba", "1-channel"])
def test_arrays_of_another_channel_count_are_refused(small_world, arrays_folder, cli, tmp_path, shape):
    data = arrays_folder(tmp_path / "d", images=np.zeros(shape, dtype=np.uint8))
    cli(*small_world.run_args(tmp_path / "out", data=data)).refused(
        f"holds uint8 {shape}; expected uint8 N x H x W x 3 (RGB)")


def test_images_the_model_cannot_take_are_refused_before_the_pass(small_world, cli, tmp_path):
    net = tmp_path / "fixed.py"
    net.write_text(textwrap.dedent("""
        from torch import nn
        def build(num_classes):  # a flatten + linear head: only 32x32 inputs fit
            return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * 32 * 32, num_classes))
    """))
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixed_net", net)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.build(N_CLASSES).state_dict(), tmp_path / "fixed.pth")
    cli("run", "--data", small_world.data, "--model", f"{net}:build", "--checkpoint", tmp_path / "fixed.pth",
        "--out", tmp_path / "out").refused("The model cannot take these 16x16 images")


def test_labels_out_of_range(small_world, arrays_folder, cli, tmp_path):
    data = arrays_folder(tmp_path / "d", labels=np.array([*(np.arange(19) % N_CLASSES), N_CLASSES]))
    cli(*small_world.run_args(tmp_path / "out", data=data)).refused("range over 0..10, but there are 10 class names")


def test_a_class_with_no_test_images_runs_and_says_so(small_world, arrays_folder, cli, tmp_path):
    data = arrays_folder(tmp_path / "d", labels=np.arange(20) % 9)  # class 9 (c9) has no test image
    outcome = cli(*small_world.run_args(tmp_path / "out", data=data)).completed()
    assert "Predictions collected for 20 images" in outcome.out
    csv = (tmp_path / "out" / "per_class_accuracy.csv").read_text(encoding="utf-8").splitlines()
    row = next(line for line in csv if line.startswith("9,"))
    assert ",0,0," in row  # support 0, correct 0
    assert (tmp_path / "out" / "class_009_c9.png").read_bytes().startswith(PNG_MAGIC)


HOSTILE_NAMES = ["../../escape", "a/b", "..", "with spaces", "ünï cødé 猫", "<script>alert(1)</script>",
                 "[/]", "/etc/passwd", "C:\\evil", "x" * 300]


def test_hostile_class_names_stay_inside_the_output_folder_and_are_escaped(small_world, arrays_folder, cli,
                                                                           tmp_path):
    data = arrays_folder(tmp_path / "d", classes=HOSTILE_NAMES)
    out = tmp_path / "deep" / "out"
    cli(*small_world.run_args(out, data=data)).completed()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "deep"]  # nothing written beside
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["out"]
    assert all(p.is_file() for p in out.iterdir())  # no sub-folders made from names with '/'
    assert len(list(out.glob("class_*.png"))) == len(HOSTILE_NAMES)
    assert all(re.fullmatch(r"class_\d{3}_[A-Za-z0-9][A-Za-z0-9_-]*\.png", p.name) for p in out.glob("class_*.png"))
    assert (out / "class_005_script_alert_1_script.png").is_file()
    html = (out / "per_class_accuracy_interactive.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert load_cache(out / "cache.npz").class_names == HOSTILE_NAMES  # the names themselves are kept
