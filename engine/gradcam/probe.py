"""ModelProbe: what the pass needs to know about a model, learnt from one forward and one backward pass of
two images, with a hook on every module (engine.gradcam.feature_maps).

- the logits: a floating-point (batch, classes) tensor with as many classes as the data has (a dict with a
  `logits` entry, or an object with a `logits` attribute, is read for it);
- the Grad-CAM layer: the one asked for, else the last feature map with a real spatial grid (at least 2x2)
  that the logits depend on, never one made by a pooling layer, never a classifier's per-cell scores, in
  any layout (NCHW, NHWC, or tokens reshaped to their patch grid: engine.gradcam.layout). A layer whose map
  would be degenerate (1x1, no grid, or no cell that reaches the logits) is refused, naming the layers that
  would do;
- a layer changed in place after it returns is read after that change (`in_place`), as the next operation
  receives it, on both paths;
- the head: when the logits are exactly mean-over-the-grid(A) @ W.T + b for the linear layer that outputs
  them (checked numerically, whatever pooling, dropout, flatten or permute lies between), d y_c / d A_k =
  W[c, k] / (h w) everywhere, so Grad-CAM for any class is one small product with W and needs no backward
  pass ("linear-head" path); otherwise the CAMs come from autograd ("autograd" path).

The probe runs once, on the model as the pass will run it (device, memory format, folded BatchNorm), and
owns its hooks for that one forward pass only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import UserError, brief
from engine.gradcam.feature_maps import FeatureMap, feature_maps, map_of_call, mark_dependence, record_forward
from engine.gradcam.layout import Layout

SHOWN_CANDIDATES = 6


@dataclass(frozen=True, eq=False)
class ModelProbe:
    num_classes: int
    layer_name: str
    grid: tuple[int, int]  # the layer's map (h, w)
    head: torch.Tensor | None  # (C, k) linear-head weights, when the fast path applies
    layout: Layout | None = None  # None: NCHW
    in_place: bool = False  # the model changes the layer's output in place after it returns
    bytes_per_image: int = 0  # a floor on the memory one image of a batch needs in the pass
    chosen: str = "given"  # "default" (the probe's rule) or "given" (--target-layer or the architecture's)

    @property
    def cam_path(self) -> str:
        return "linear-head" if self.head is not None else "autograd"

    @property
    def grid_layout(self) -> Layout:
        return self.layout or Layout("NCHW", self.grid, 0)

    def layer(self, model: nn.Module) -> nn.Module:
        return find_layer(model, self.layer_name)

    def meta(self) -> dict[str, Any]:
        """What the cache records about the layer (besides its name and the CAM path)."""
        return {**self.grid_layout.meta(), "read_after_in_place": self.in_place, "chosen": self.chosen}


def find_layer(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if not name or name not in modules:
        tops = [n for n, _ in model.named_children()]
        raise UserError(f"The model has no layer {name!r}; its top-level layers are {', '.join(tops)}.")
    return modules[name]


def logits_of(output: Any) -> torch.Tensor:
    """The logits in a model's output: the tensor itself, a dict's 'logits', or an object's .logits."""
    if torch.is_tensor(output):
        return output
    inner = output.get("logits") if isinstance(output, dict) else getattr(output, "logits", None)
    if torch.is_tensor(inner):
        return inner
    if isinstance(output, (tuple, list)):
        parts = ", ".join(str(tuple(t.shape)) if torch.is_tensor(t) else type(t).__name__ for t in output[:4])
        what = f"a {type(output).__name__} of {len(output)} ({parts}{', ...' if len(output) > 4 else ''})"
    elif isinstance(output, dict):
        what = f"a dict with keys {', '.join(map(str, list(output)[:6]))} but no 'logits'"
    else:
        what = f"a {type(output).__name__}"
    raise UserError(f"The model returns {what}, not one (batch, classes) tensor of logits; build it with --model "
                    "FILE.py:FACTORY around a forward that returns the logits alone.")


def probe_model(model: nn.Module, x: torch.Tensor, num_classes: int, layer: str | None = None) -> ModelProbe:
    """Run the model once on x (a normalised batch, on the model's device) and learn the above."""
    if layer is not None:
        find_layer(model, layer)
    image_hw = (int(x.shape[2]), int(x.shape[3]))
    try:
        output, calls, last = record_forward(model, x)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's forward: an assert, a shape error, sys.exit
        what = brief(exc, 160) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {brief(exc, 160)}"
        raise UserError(f"The model cannot take these {image_hw[0]}x{image_hw[1]} images: {what}.") from None
    logits = logits_of(output)
    if logits.ndim != 2:
        raise UserError(f"The model's output has shape {tuple(logits.shape)}; expected (batch, classes) logits.")
    if not logits.is_floating_point():
        raise UserError(f"The model's logits are {str(logits.dtype).replace('torch.', '')}, not floating point: "
                        "Grad-CAM needs the class scores themselves (the output before any argmax or rounding).")
    if logits.shape[1] != num_classes:
        raise UserError(f"The model predicts {logits.shape[1]} classes but the data has {num_classes}.")
    maps = feature_maps(calls, image_hw, int(x.shape[0]))
    chosen = None if layer is None else _given(layer, last.get(layer, _NOT_RUN), calls, image_hw, maps)
    mark_dependence(maps + ([chosen] if chosen is not None else []), logits, num_classes)
    if chosen is None:
        usable = [m for m in maps if m.default_candidate]
        if not usable:
            raise UserError(f"Could not find a convolutional layer for Grad-CAM (no feature map with a grid of at least "
                            f"2x2 on the path to the logits at {image_hw[0]}x{image_hw[1]}); name one with --target-layer.")
        chosen, how = usable[-1], "default"
    else:
        how = "given"
        if chosen.on_path is False:
            raise UserError(f"The logits do not depend on the cells of layer {layer!r} (only its leading tokens or "
                            f"none of it reach the head), so its maps would be blank; {_candidates(maps)}.")
    head = _linear_head(chosen, logits, calls, dict(model.named_modules()))
    if head is None and not logits.requires_grad:
        raise UserError("The model's logits carry no gradient (its forward detaches them or runs under no_grad) and "
                        "its head is not a linear layer after average pooling, so Grad-CAM cannot be computed.")
    return ModelProbe(int(logits.shape[1]), chosen.name, chosen.grid, head, chosen.layout, chosen.in_place,
                      _bytes_per_image(calls, chosen, int(x.shape[0])), how)


_NOT_RUN = object()


def _given(layer: str, output: Any, calls, image_hw, maps: list[FeatureMap]) -> FeatureMap:
    """The asked-for layer's map, or one sentence on why it cannot give one."""
    if output is _NOT_RUN:
        problem = "did not run in the model's forward pass"
    elif not torch.is_tensor(output):
        problem = f"returns a {type(output).__name__}, not a feature map"
    else:
        found = map_of_call(layer, output, calls, image_hw, maps)
        if found is not None and found.spatial:
            return found
        if found is not None:
            h, w = found.grid
            problem = f"gives a {h}x{w} map, which cannot show where in the image the model looks"
        else:
            problem = f"gives an output of shape {tuple(output.shape)} with no spatial grid"
    raise UserError(f"Layer {layer!r} {problem}; {_candidates(maps)}.")


def _candidates(maps: list[FeatureMap]) -> str:
    usable = [m for m in maps if m.default_candidate]
    if not usable:
        return "no layer of this model has a grid of at least 2x2 on the path to the logits at this image size"
    shown: dict[tuple, str] = {}  # the last layer of each grid size: one per stage, the default first
    for m in reversed(usable):
        shown.setdefault((m.grid, m.layout.kind), m.label())
    return "layers with a grid on the path to the logits, last first: " + ", ".join(list(shown.values())[:SHOWN_CANDIDATES])


def _linear_head(chosen: FeatureMap, logits: torch.Tensor, calls, modules: dict[str, nn.Module]) -> torch.Tensor | None:
    """The head's weights if mean-over-the-grid(A) -> linear is exactly how the logits are made."""
    lin = next((modules[c.name] for c in calls if isinstance(modules.get(c.name), nn.Linear)
                and (c.output is logits or (c.output.shape == logits.shape and torch.equal(c.output, logits)))), None)
    if lin is None or lin.weight.shape[1] != chosen.layout.channels:
        return None
    with torch.no_grad():
        pooled = chosen.layout.to_grid(chosen.tensor.detach()).float().mean(dim=(2, 3))
        recomputed = pooled @ lin.weight.float().T
        if lin.bias is not None:
            recomputed = recomputed + lin.bias.float()
        if not torch.allclose(recomputed, logits.detach().float(), rtol=1e-4, atol=1e-4):
            return None
    return lin.weight.detach()


def _bytes_per_image(calls, chosen: FeatureMap, batch: int) -> int:
    """A floor on one image's share of a batch's peak memory: the largest output three times over (input,
    output and workspace of one layer), plus every output from the Grad-CAM layer on (the autograd path
    keeps them for its backward pass)."""
    unique = list({id(c.output): c for c in calls}.values())
    sizes = [c.output.numel() * c.output.element_size() for c in unique]
    if not sizes:
        return 0
    tail = sum(size for c, size in zip(unique, sizes) if c.order >= chosen.order)
    return int((3 * max(sizes) + tail) / max(1, batch))

