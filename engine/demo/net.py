"""DemoNet: the small CNN of the demo world, built so the fast Grad-CAM path applies.

stem (32x32) -> layer1 (16x16) -> layer2 (8x8) -> layer3 (8x8, the Grad-CAM layer) -> avgpool -> fc.
layer3 feeds global-average-pooling and a linear head, so Grad-CAM for class c is ReLU(sum_k W[c,k] A_k)
up to a positive constant, with no backward pass.
"""

from __future__ import annotations

import torch
from torch import nn

DEMO_TARGET_LAYER = "layer3"
# input normalisation of the demo model (per-channel mean/std of the demo world's training split, rounded)
DEMO_MEAN: tuple[float, float, float] = (0.58, 0.56, 0.54)
DEMO_STD: tuple[float, float, float] = (0.29, 0.26, 0.28)
DEMO_ARCH = "demonet"
WIDTHS = (16, 32, 64, 96)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DemoNet(nn.Module):
    """About 127k parameters; input (N, 3, 32, 32) normalised with DEMO_MEAN / DEMO_STD; output logits."""

    def __init__(self, num_classes: int, widths: tuple[int, int, int, int] = WIDTHS) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = _conv(3, w0)
        self.layer1 = nn.Sequential(_conv(w0, w1, stride=2), _conv(w1, w1))
        self.layer2 = nn.Sequential(_conv(w1, w2, stride=2), _conv(w2, w2))
        self.layer3 = _conv(w2, w3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
