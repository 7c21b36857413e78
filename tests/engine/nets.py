"""Small networks the gradcam tests need beside the built-in architectures."""

from __future__ import annotations

from torch import nn


class FunctionalPool(nn.Module):
    """Global average pooling done functionally and a second path into the logits: no linear head after a
    pooling layer, so the fast Grad-CAM path must not be assumed."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 4)
        self.skip = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3))) + self.skip(x.mean((2, 3)))
