"""Hostile models and checkpoints given to `gradcam-batch run`: state_dicts of tensors no model can take,
forwards that fail, outputs that are not logits, layers without a grid, devices this machine lacks, a factory
that exits, the CPU running out of memory. Each is one sentence and exit 2 with the previous output folder
byte for byte, or (out of memory) a run that backs off and says so."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.models.cifar_resnet import cifar_resnet
from engine.store import load_cache
from tests.conftest import Outcome, files_in

NET = "from engine.models.cifar_resnet import cifar_resnet\nimport sys, torch\n"
FORWARDS = {
    "assert in forward": ("""
        def build(num_classes):
            net = cifar_resnet(20, num_classes)
            def forward(x):
                assert x.shape[-1] == 224, "expects 224-px images"
            net.forward = forward
            return net
        """, "AssertionError: expects 224-px images"),
    "fails only at real batch sizes": ("""
        def build(num_classes):
            net = cifar_resnet(20, num_classes)
            inner = net.forward
            def forward(x):
                if x.shape[0] > 2:
                    raise RuntimeError("view size is not compatible with input tensor's size")
                return inner(x)
            net.forward = forward
            return net
        """, "failed on a batch of"),
    "integer logits": ("""
        def build(num_classes):
            net = cifar_resnet(20, num_classes)
            inner = net.forward
            net.forward = lambda x: inner(x).round().long()
            return net
        """, "logits are int64, not floating point"),
    "a tuple": ("""
        def build(num_classes):
            net = cifar_resnet(20, num_classes)
            inner = net.forward
            net.forward = lambda x: (inner(x), inner(x))
            return net
        """, "returns a tuple of 2"),
    "a dict without logits": ("""
        def build(num_classes):
            net = cifar_resnet(20, num_classes)
            inner = net.forward
            net.forward = lambda x: {"out": inner(x)}
            return net
        """, "a dict with keys out but no 'logits'"),
    "a factory that exits": ("""
        def build(num_classes):
            sys.exit(0)
        """, "called sys.exit(0) instead of returning a torch.nn.Module"),
}


@pytest.mark.parametrize("case", list(FORWARDS), ids=[c.replace(" ", "-") for c in FORWARDS])
def test_a_model_that_does_not_give_logits_is_one_sentence(small_world, cli, tmp_path, previous_run, case):
    body, expected = FORWARDS[case]
    (tmp_path / "net.py").write_text(NET + textwrap.dedent(body))
    out = tmp_path / "out"
    before = previous_run(out)
    args = ["run", "--data", small_world.data, "--model", f"{tmp_path / 'net.py'}:build", "--checkpoint",
            small_world.checkpoint, "--out", out, "--batch-size", "8"]
    cli(*args).refused(expected)
    assert files_in(out) == before


def _state_dict_with(kind: str) -> dict:
    state = cifar_resnet(20, 10).state_dict()
    key = "layer3.2.conv2.weight"
    if kind == "sparse":
        state[key] = state[key].to_sparse()
    elif kind == "meta":
        state[key] = torch.empty_like(state[key], device="meta")
    elif kind == "quantized":
        state[key] = torch.quantize_per_tensor(state[key], 0.1, 0, torch.qint8)
    return state


@pytest.mark.parametrize("kind", ["sparse", "meta", "quantized"])
def test_tensors_no_model_can_take_are_refused_before_loading(small_world, batch, tmp_path, previous_run, kind):
    """A real process, so that torch's own warnings would show on its stderr."""
    path = tmp_path / f"{kind}.pth"
    torch.save(_state_dict_with(kind), path)
    out = tmp_path / "out"
    before = previous_run(out)
    outcome = Outcome.of(batch(*small_world.run_args(out, ckpt=path), timeout=120))
    line = outcome.refused("layer3.2.conv2.weight", kind)
    assert outcome.err.strip() == line, outcome.err  # the sentence alone: no warning before it
    assert files_in(out) == before


@pytest.mark.parametrize("flags, expected", [
    (["--target-layer", "fc"], "no spatial grid"),
    (["--device", "mps"], "no Apple GPU (MPS)"),
], ids=["a 2-D layer", "mps on this machine"])
def test_layers_and_devices_that_cannot_work_are_one_sentence(small_world, cli, tmp_path, previous_run, flags,
                                                             expected):
    if flags[-1] == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    out = tmp_path / "out"
    before = previous_run(out)
    cli(*small_world.run_args(out, *flags)).refused(expected)
    assert files_in(out) == before


CPU_OOM_NET = NET + textwrap.dedent("""
    def build(num_classes):
        net = cifar_resnet(20, num_classes)
        inner = net.forward
        def forward(x):
            if x.shape[0] > 4:
                raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                                   "you tried to allocate 8589934592 bytes.")
            return inner(x)
        net.forward = forward
        return net
    """)


def test_cpu_out_of_memory_halves_the_batch_and_says_so(small_world, cli, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.gradcam.one_pass.lane_count", lambda device: 1)  # one lane sees the whole batch
    (tmp_path / "net.py").write_text(CPU_OOM_NET)
    out = tmp_path / "out"
    outcome = cli("run", "--data", small_world.data, "--model", f"{tmp_path / 'net.py'}:build", "--checkpoint",
                  small_world.checkpoint, "--out", out, "--no-reports", "--batch-size", "16").completed()
    assert "Out of memory on the CPU: batch size lowered to 8" in outcome.err + outcome.out
    assert "Out of memory on the CPU: batch size lowered to 4" in outcome.err + outcome.out
    cache = load_cache(Path(out) / "cache.npz")
    assert cache.meta["batch_size"] == 4
    assert np.isfinite(cache.probs).all() and len(cache.labels) == 20
