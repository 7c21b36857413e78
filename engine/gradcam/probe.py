"""ModelProbe: what the pass needs to know about a model, learnt from one forward pass of two images.

- the logits: a (batch, classes) tensor, with as many classes as the data has;
- the Grad-CAM layer: the one asked for, else the last top-level child whose output is a 4-D feature map
  with more than one cell (the last convolutional stage of the built-in networks, never the pooling);
- the head: when that layer's output goes through global-average-pooling into a linear layer that gives
  the logits (checked structurally and then numerically against the real logits), d y_c / d A_k =
  W[c, k] / (h w) everywhere, so Grad-CAM for any class is one small product with W and needs no backward
  pass ("linear-head" path); otherwise the CAMs come from autograd ("autograd" path).

The probe runs once, on the model as the pass will run it (device, memory format, folded BatchNorm), and
owns its hooks for that one forward pass only.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import UserError, brief


@dataclass(frozen=True, eq=False)
class ModelProbe:
    num_classes: int
    layer_name: str
    grid: tuple[int, int]  # the layer's map (h, w)
    head: torch.Tensor | None  # (C, k) linear-head weights, when the fast path applies

    @property
    def cam_path(self) -> str:
        return "linear-head" if self.head is not None else "autograd"

    def layer(self, model: nn.Module) -> nn.Module:
        return find_layer(model, self.layer_name)


def find_layer(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if not name or name not in modules:
        tops = [n for n, _ in model.named_children()]
        raise UserError(f"The model has no layer {name!r}; its top-level layers are {', '.join(tops)}.")
    return modules[name]


def probe_model(model: nn.Module, x: torch.Tensor, num_classes: int, layer: str | None = None) -> ModelProbe:
    """Run the model once on x (a normalised batch, on the model's device) and learn the above."""
    if layer is not None:
        find_layer(model, layer)
    outputs: dict[str, object] = {}
    top_level: list[str] = []
    pools: list[tuple[nn.Module, torch.Tensor]] = []
    linears: list[tuple[nn.Module, torch.Tensor]] = []
    with ExitStack() as hooks:
        def keep(handle):
            hooks.callback(handle.remove)

        def seen(name: str, output: object) -> None:
            outputs[name] = output
            if torch.is_tensor(output) and output.ndim == 4 and output.shape[-2] * output.shape[-1] > 1:
                top_level.append(name)  # a feature map with a spatial grid (a pooled 1x1 output is not one)

        for name, child in model.named_children():
            keep(child.register_forward_hook(lambda m, i, o, n=name: seen(n, o)))
        if layer is not None:
            keep(find_layer(model, layer).register_forward_hook(lambda m, i, o: outputs.__setitem__("asked", o)))
        for m in model.modules():
            if isinstance(m, nn.AdaptiveAvgPool2d):
                keep(m.register_forward_hook(lambda mod, i, o: pools.append((mod, i[0]))))
            elif isinstance(m, nn.Linear):
                keep(m.register_forward_hook(lambda mod, i, o: linears.append((mod, o))))
        try:
            with torch.no_grad():
                logits = model(x)
        except RuntimeError as exc:
            raise UserError(f"The model cannot take these {x.shape[2]}x{x.shape[3]} images: {brief(exc, 160)}.") from None
    if not torch.is_tensor(logits) or logits.ndim != 2:
        raise UserError(f"The model's output has shape {tuple(getattr(logits, 'shape', ()))}; expected (batch, classes) logits.")
    if logits.shape[1] != num_classes:
        raise UserError(f"The model predicts {logits.shape[1]} classes but the data has {num_classes}.")
    if layer is None:
        if not top_level:
            raise UserError("Could not find a convolutional layer for Grad-CAM; name one with --target-layer.")
        layer = top_level[-1]
        act = outputs.get(layer)
    else:
        act = outputs.get("asked")
    grid = tuple(act.shape[-2:]) if torch.is_tensor(act) and act.ndim == 4 else (0, 0)
    return ModelProbe(int(logits.shape[1]), layer, grid, _linear_head(act, logits, pools, linears))  # type: ignore[arg-type]


def _linear_head(act, logits: torch.Tensor, pools, linears) -> torch.Tensor | None:
    """The head's weights if act -> global-average-pool -> linear is exactly how the logits are made."""
    if not torch.is_tensor(act) or act.ndim != 4:
        return None
    pool = next((p for p, inp in pools if inp is act), None)
    lin = next((m for m, out in linears if out is logits), None)
    if pool is None or lin is None:
        return None
    size = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * 2
    if tuple(size) != (1, 1):
        return None
    recomputed = act.float().mean(dim=(2, 3)) @ lin.weight.float().T
    if lin.bias is not None:
        recomputed = recomputed + lin.bias.float()
    if not torch.allclose(recomputed, logits.float(), rtol=1e-4, atol=1e-4):
        return None
    return lin.weight.detach()
