"""How a layer's output lays out its spatial grid, and the one reshape that turns it into (batch, k, h, w).

Grad-CAM needs a feature map: k channels over an h x w grid of image cells. Layers give it in three layouts:

- `NCHW` (batch, k, h, w): convolutional networks;
- `NHWC` (batch, h, w, k): channels-last stages (torchvision's Swin, timm's Swin and ConvNeXt internals);
- `tokens` (batch, n, k): a transformer's sequence, `prefix` class/distillation/register tokens first and
  then h x w patch tokens in row-major order; the prefix is dropped and the rest reshaped to the grid, as
  pytorch-grad-cam's `reshape_transform` does for ViT and Swin. The grid is the patch embedding's (the last
  4-D map made before the sequence whose cell count leaves at most MAX_PREFIX_TOKENS tokens over).

The layout is read from the output's shape against the input image's: a grid has the image's aspect ratio
(within one cell) and is no larger than the image. A 4-D shape that fits both ways (a channel count equal to
the grid's side, say (b, 7, 7, 7)) is NCHW unless the layer is a LayerNorm over its last axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MAX_PREFIX_TOKENS = 10  # a class token, a distillation token and up to 8 register tokens (timm's *_reg8 models)


@dataclass(frozen=True)
class Layout:
    kind: str  # "NCHW", "NHWC" or "tokens"
    grid: tuple[int, int]  # (h, w)
    channels: int
    prefix: int = 0  # tokens before the patch tokens (tokens only)

    def to_grid(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, ...) in this layout -> (batch, k, h, w), a view where the layout allows one."""
        h, w = self.grid
        if self.kind == "NCHW":
            return t
        if self.kind == "NHWC":
            return t.permute(0, 3, 1, 2)
        return t[:, self.prefix :, :].reshape(t.shape[0], h, w, t.shape[-1]).permute(0, 3, 1, 2)

    def describe(self) -> str:
        h, w = self.grid
        if self.kind == "tokens":
            dropped = f", {self.prefix} leading token{'s' if self.prefix != 1 else ''} dropped" if self.prefix else ""
            return f"tokens as a {h}x{w} grid{dropped}"
        return self.kind

    def meta(self) -> dict:
        out = {"layout": self.kind, "grid": list(self.grid), "channels": self.channels}
        if self.kind == "tokens":
            out["prefix_tokens"] = self.prefix
        return out


def fits(gh: int, gw: int, image_hw: tuple[int, int]) -> bool:
    """True when gh x gw can be a grid of cells over an image of this size (same aspect within one cell)."""
    H, W = image_hw
    return 1 <= gh <= H and 1 <= gw <= W and abs(gh * W - gw * H) <= max(H, W)


def _token_grid(n: int, image_hw: tuple[int, int], known: tuple[tuple[int, int], ...] = ()
                ) -> tuple[int, tuple[int, int]] | None:
    """(prefix, (h, w)) for a sequence of n tokens: a grid the model made before (its patch embedding's),
    latest first, that leaves at most MAX_PREFIX_TOKENS leading tokens; else the fewest leading tokens whose
    remainder is a grid (on a tiny grid that guess can be wrong: 2 + 2x2 tokens also read as 2x3)."""
    H, W = image_hw
    for gh, gw in reversed(known):
        if gh >= 2 and gw >= 2 and 0 <= n - gh * gw <= MAX_PREFIX_TOKENS:
            return n - gh * gw, (gh, gw)
    for prefix in range(0, min(MAX_PREFIX_TOKENS + 1, n - 3)):
        m = n - prefix
        guess = max(1, round(math.sqrt(m * H / W)))
        for gh in (guess, guess - 1, guess + 1):
            if gh >= 2 and m % gh == 0 and m // gh >= 2 and fits(gh, m // gh, image_hw):
                return prefix, (gh, m // gh)
    return None


def detect_layout(shape: tuple[int, ...], image_hw: tuple[int, int], last_axis_normalised: bool = False,
                  known_grids: tuple[tuple[int, int], ...] = ()) -> Layout | None:
    """The layout of an output of this shape (batch first), or None when it has no spatial grid at all;
    `known_grids`: the grids of the 4-D maps made before it, in order (a token sequence's patch grid)."""
    if len(shape) == 4:
        _, a, b, c = shape
        nchw, nhwc = fits(b, c, image_hw), fits(a, b, image_hw)
        if nhwc and (not nchw or last_axis_normalised):
            return Layout("NHWC", (a, b), c)
        if nchw:
            return Layout("NCHW", (b, c), a)
        return None
    if len(shape) == 3:
        found = _token_grid(shape[1], image_hw, known_grids)
        if found is not None:
            return Layout("tokens", found[1], shape[2], found[0])
    return None
