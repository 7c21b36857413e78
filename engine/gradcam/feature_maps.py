"""Every feature map a model computes on the probe's images, found in one forward pass with a hook on every
module, and whether the logits depend on its cells (one backward pass).

A tensor that several modules return (a Sequential and its last child, an in-place activation, a Dropout in
eval mode) is one feature map, named by the last of those modules that either made it, contains the module
that made it, or changed it in place; a module called more than once names only the output of its last
call. The rules the probe chooses by (engine.gradcam.probe) are applied to these maps:

- made by a pooling layer (max, average, adaptive): never chosen by default;
- made by a layer that only moves values (a view or permutation of its input: torchvision's Permute,
  Flatten, Identity): the same values as its input's map, which is chosen instead;
- `on_path`: the logits depend on at least two cells of its grid (the gradient of a random mix of the
  logits is non-zero there). A ViT's last encoder output is not: only its class token reaches the head;
- `class_scores`: its channels are the classes and pooling it gives the logits (SqueezeNet's last
  convolution): a classifier's output, not a feature map;
- `in_place`: the model changes it in place after the module returns (DenseNet applies
  F.relu(features, inplace=True)); it is then read as the next operation receives it, after the change;
- `inside_block`: a token map whose width is not the sequence's (the first token map's, the patch
  embedding's): an attention's fused q/k/v projection (3x wide) or an MLP's hidden layer (4x), an
  intermediate of a block rather than a feature map of the sequence; never chosen by default (a timm ViT's
  last block gives `norm1`, as pytorch-grad-cam's ViT example uses, not `attn.qkv`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.gradcam.layout import Layout, detect_layout

_POOLING = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
            nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd)
_MOVES = (nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.dropout._DropoutNd)
_SEED = 20240531


@dataclass
class Call:
    """One module call whose output is a tensor, in the order the calls returned."""

    order: int
    name: str
    output: torch.Tensor
    version: int  # the output's version counter when the module returned
    kind: str  # "layer", "pool" (a pooling layer) or "moves" (a view or pass-through of its input)
    norm_last: bool = False  # a LayerNorm over the last axis (a channels-last output)
    source: int | None = None  # id() of the input a "moves" call rearranged
    last_call: bool = True  # the module's last call in the forward pass


@dataclass
class FeatureMap:
    name: str
    layout: Layout
    order: int  # when it was made
    made_by: str  # "layer", "pool" or "moves"
    in_place: bool
    tensor: torch.Tensor = field(repr=False)
    on_path: bool | None = None  # None: the logits could not be differentiated
    class_scores: bool = False
    inside_block: bool = False  # a token map not as wide as the model's token sequence

    @property
    def grid(self) -> tuple[int, int]:
        return self.layout.grid

    @property
    def spatial(self) -> bool:
        """A real grid: at least 2x2 cells."""
        return min(self.layout.grid) >= 2

    @property
    def default_candidate(self) -> bool:
        return (self.made_by == "layer" and self.spatial and self.on_path is not False and not self.class_scores
                and not self.inside_block)

    def label(self) -> str:
        h, w = self.grid
        extra = "" if self.layout.kind == "NCHW" else f", {self.layout.kind}"
        return f"{self.name} ({h}x{w}{extra})"


def _kind(module: nn.Module, inputs: tuple, output: torch.Tensor) -> str:
    name = type(module).__name__
    if isinstance(module, _POOLING) or name.endswith(("Pool", "Pool1d", "Pool2d", "Pool3d")):
        return "pool"
    if isinstance(module, _MOVES) or name == "Permute":
        return "moves"
    first = inputs[0] if inputs and torch.is_tensor(inputs[0]) else None
    if first is not None and output is not first and output.numel() == first.numel():
        try:
            if output.untyped_storage().data_ptr() == first.untyped_storage().data_ptr():
                return "moves"  # a view of its input: permute, reshape, transpose
        except (RuntimeError, NotImplementedError):
            pass
    return "layer"


def record_forward(model: nn.Module, x: torch.Tensor) -> tuple[Any, list[Call], dict[str, Any]]:
    """model(x) with grad enabled and a hook on every module: (output, tensor calls, last output by name)."""
    calls: list[Call] = []
    last: dict[str, Any] = {}
    with ExitStack() as hooks:
        def seen(name: str, module: nn.Module, inputs: tuple, output: Any) -> None:
            last[name] = output
            if torch.is_tensor(output) and output.is_floating_point() and output.ndim >= 2:
                norm_last = isinstance(module, nn.LayerNorm) and tuple(module.normalized_shape) == tuple(output.shape[-1:])
                source = id(inputs[0]) if inputs and torch.is_tensor(inputs[0]) else None
                calls.append(Call(len(calls), name, output, output._version, _kind(module, inputs, output), norm_last,
                                  source))

        for name, module in model.named_modules():
            if name:
                handle = module.register_forward_hook(lambda m, i, o, n=name: seen(n, m, i, o))
                hooks.callback(handle.remove)
        with torch.enable_grad():
            output = model(x.detach().clone().requires_grad_(True))
    final: set[str] = set()
    for call in reversed(calls):
        call.last_call = call.name not in final
        final.add(call.name)
    return output, calls, last


def _representative(group: list[Call]) -> Call | None:
    """The module that names a tensor several calls returned (see the module docstring)."""
    best = None
    for k, call in enumerate(group):
        if call.kind != "layer" and k > 0:
            continue
        earlier = group[:k]
        contains = any(c.name.startswith(call.name + ".") for c in earlier)
        changed = bool(earlier) and call.version != earlier[-1].version
        if (k == 0 or contains or changed) and call.last_call:
            best = call
    return best


def feature_maps(calls: list[Call], image_hw: tuple[int, int], batch: int) -> list[FeatureMap]:
    """One FeatureMap per tensor with a grid layout, in the order they were made."""
    groups: dict[int, list[Call]] = {}
    for call in calls:
        if call.output.shape[0] == batch:
            groups.setdefault(id(call.output), []).append(call)
    maps: dict[int, FeatureMap] = {}
    grids: list[tuple[int, int]] = []  # of the 4-D maps so far: a token sequence's patch grid
    for key, group in groups.items():
        rep = _representative(group)
        if rep is None:
            continue
        layout = detect_layout(tuple(rep.output.shape), image_hw, last_axis_normalised=_normalised_last(group),
                               known_grids=tuple(grids))
        if layout is None:
            continue
        if layout.kind != "tokens":
            grids.append(layout.grid)
        made_by = group[0].kind
        if made_by == "moves" and group[0].source not in maps:
            made_by = "layer"  # a rearrangement that makes the grid (windows back into an image): its own map
        maps[key] = FeatureMap(rep.name, layout, group[0].order, made_by, rep.output._version != rep.version,
                               rep.output)
    found = sorted(maps.values(), key=lambda m: m.order)
    widths = [m.layout.channels for m in found if m.layout.kind == "tokens"]
    for m in found:
        m.inside_block = m.layout.kind == "tokens" and m.layout.channels != widths[0]
    return found


def _normalised_last(group: list[Call]) -> bool:
    return any(c.norm_last for c in group)


def map_of_call(name: str, output: torch.Tensor, calls: list[Call], image_hw: tuple[int, int],
                maps: list[FeatureMap] = ()) -> FeatureMap | None:  # type: ignore[assignment]
    """The FeatureMap of a named module's last output (a layer the user asked for), or None without a grid;
    `maps`: the model's feature maps (their grids tell a token sequence's patch grid)."""
    same = [c for c in calls if c.output is output]
    mine = [c for c in same if c.name == name]
    call = mine[-1] if mine else None
    first = same[0] if same else None
    if call is None or first is None:
        return None
    grids = tuple(m.grid for m in maps if m.layout.kind != "tokens" and m.order < first.order)
    layout = detect_layout(tuple(output.shape), image_hw, last_axis_normalised=_normalised_last(same),
                           known_grids=grids)
    if layout is None:
        return None
    return FeatureMap(name, layout, first.order, first.kind, output._version != call.version, output)


def mark_dependence(maps: list[FeatureMap], logits: torch.Tensor, num_classes: int) -> None:
    """Set on_path (one backward pass of a seeded random mix of the logits) and class_scores on each map."""
    for m in maps:
        g = m.layout.to_grid(m.tensor.detach()).float()
        if m.layout.channels == num_classes:
            lg = logits.detach().float()
            m.class_scores = any(torch.allclose(p, lg, rtol=1e-4, atol=1e-4)
                                 for p in (g.mean(dim=(2, 3)), g.amax(dim=(2, 3))))
    wanted = [m for m in maps if m.tensor.requires_grad]
    if not logits.requires_grad or not wanted:
        return
    gen = torch.Generator(device="cpu").manual_seed(_SEED)
    mix = torch.randn(logits.shape, generator=gen).to(logits.device, logits.dtype)
    unique = list({id(m.tensor): m.tensor for m in wanted}.values())
    try:
        grads = torch.autograd.grad((logits * mix).sum(), unique, allow_unused=True)
    except RuntimeError:
        return  # not differentiable here: on_path stays unknown
    by_id = {id(t): g for t, g in zip(unique, grads)}
    for m in maps:
        if m.tensor.requires_grad:
            g = by_id.get(id(m.tensor))
            if g is None:
                m.on_path = False
            else:
                cells = m.layout.to_grid(g).abs().sum(dim=(0, 1))
                m.on_path = int((cells != 0).sum()) >= 2  # a NaN gradient (NaN weights) depends too
        elif logits.requires_grad:
            m.on_path = False
    if not any(m.on_path for m in maps):
        for m in maps:  # the logits depend on nothing (a constant model): the test tells nothing
            m.on_path = None
