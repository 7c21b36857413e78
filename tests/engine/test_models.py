"""Models (engine.models): the built-in architectures, checkpoints read without running them (wrappers,
safe unpickling, TorchScript), the user's own factory, BatchNorm folding, one-sentence errors for mismatches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import UserError
from engine.gradcam.probe import probe_model
from engine.models import ARCHITECTURES, load_model
from engine.models.batchnorm import fold_batchnorm


@pytest.fixture(scope="module")
def r20_state():
    torch.manual_seed(0)
    model = ARCHITECTURES["cifar_resnet20"][0](10).eval()
    return model, model.state_dict()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd},
        lambda sd: {"net": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
    ],
    ids=["plain", "state_dict", "model", "net+module", "module-prefix"],
)
def test_wrapped_state_dicts_load(tmp_path, r20_state, wrap):
    model, sd = r20_state
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(sd), path)
    loaded = load_model(path, 10, arch="cifar_resnet20")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x))
    assert loaded.default_layer == "layer3"
    assert len(loaded.meta["checkpoint_sha256"]) == 64


def test_architecture_mismatch_names_the_keys(tmp_path, r20_state):
    _, sd = r20_state
    path = tmp_path / "ckpt.pth"
    torch.save(sd, path)
    with pytest.raises(UserError, match=r"does not fit --arch resnet18: missing keys .*unexpected keys"):
        load_model(path, 10, arch="resnet18")


def test_class_count_mismatch(tmp_path, r20_state):
    _, sd = r20_state
    path = tmp_path / "ckpt.pth"
    torch.save(sd, path)
    with pytest.raises(UserError, match="classifier has 10 classes but the data has 100"):
        load_model(path, 100, arch="cifar_resnet20")


def test_code_running_pickle_is_refused_without_trust(tmp_path, code_running_pickle):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": code_running_pickle(tmp_path / "pwned")}, path)
    with pytest.raises(UserError, match="could run code; pass --trust-checkpoint"):
        load_model(path, 10, arch="cifar_resnet20")
    assert not (tmp_path / "pwned").exists()


def test_full_pickled_model_loads_only_with_trust(tmp_path, r20_state):
    model, _ = r20_state
    path = tmp_path / "full.pth"
    torch.save(model, path)
    with pytest.raises(UserError, match="--trust-checkpoint"):
        load_model(path, 10)
    loaded = load_model(path, 10, trust_checkpoint=True)
    assert isinstance(loaded.model, nn.Module) and loaded.default_layer is None  # the probe chooses
    assert probe_model(loaded.model, torch.randn(2, 3, 32, 32), 10).layer_name == "layer3"


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None], ids=["empty", "garbage", "truncated"])
def test_empty_truncated_or_garbage_checkpoint(tmp_path, r20_state, content):
    path = tmp_path / "bad.pth"
    if content is None:  # a real checkpoint cut in half
        torch.save(r20_state[1], path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=f"Checkpoint {path}"):
        load_model(path, 10, arch="cifar_resnet20")


def test_torchscript_loads_without_arch(tmp_path, r20_state):
    model, _ = r20_state
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), path)
    loaded = load_model(path, 10)
    assert loaded.meta["arch"] == "cifar_resnet20"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x))


def test_user_factory(tmp_path, r20_state):
    _, sd = r20_state
    src = tmp_path / "mine.py"
    src.write_text(
        "from engine.models.cifar_resnet import cifar_resnet\n"
        "def build(num_classes):\n    return cifar_resnet(20, num_classes)\n"
    )
    path = tmp_path / "ckpt.pth"
    torch.save(sd, path)
    loaded = load_model(path, 10, model_spec=f"{src}:build")
    assert loaded.meta["arch"] == "mine.py:build"
    with pytest.raises(UserError, match="no callable named 'nope'"):
        load_model(path, 10, model_spec=f"{src}:nope")


def test_weights_only_checkpoint_needs_an_architecture(tmp_path, r20_state):
    path = tmp_path / "ckpt.pth"
    torch.save(r20_state[1], path)
    with pytest.raises(UserError, match="--arch or --model"):
        load_model(path, 10)


@pytest.mark.parametrize("arch", ["cifar_resnet20", "resnet18", "resnet50"])
def test_batchnorm_folding_keeps_the_logits(arch):
    torch.manual_seed(0)
    model = ARCHITECTURES[arch][0](10).eval()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        n = fold_batchnorm(model)
        after = model(x)
    assert n > 0 and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["squeezenet1_1", "tv_squeezenet1_1"])
def test_arch_takes_any_torchvision_builder_by_name(tmp_path, arch):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(weights=None, num_classes=7).eval()
    path = tmp_path / "squeezenet.pth"
    torch.save(model.state_dict(), path)
    loaded = load_model(path, 7, arch=arch)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x))
    assert loaded.default_layer is None and loaded.meta["arch_source"] == "torchvision squeezenet1_1"


def test_an_unknown_arch_suggests_the_builder_meant(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(UserError, match=r"Unknown --arch 'convnext_tiy'; did you mean convnext_tiny"):
        load_model(path, 10, arch="convnext_tiy")


def test_googlenet_checkpoint_without_its_auxiliary_heads_loads(tmp_path):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.googlenet(weights=None, num_classes=5, aux_logits=False, init_weights=True).eval()
    path = tmp_path / "googlenet.pth"
    torch.save(model.state_dict(), path)
    loaded = load_model(path, 5, arch="googlenet")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x))
