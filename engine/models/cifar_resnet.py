"""The CIFAR ResNet family of He et al. (2016, sec. 4.2) with the state_dict layout of pytorch-cifar-models.

Keys match the checkpoints in ../shared/models (conv1, bn1, layer1..3 of BasicBlocks with a 1x1-conv
`downsample` where the shape changes, fc), so their published accuracy reproduces exactly.
"""

from __future__ import annotations

import torch
from torch import nn

DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 100) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self._cin = 16
        self.layer1 = self._stage(16, blocks_per_stage, 1)
        self.layer2 = self._stage(32, blocks_per_stage, 2)
        self.layer3 = self._stage(64, blocks_per_stage, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

    def _stage(self, cout: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(self._cin, cout, stride)]
        self._cin = cout
        layers += [BasicBlock(cout, cout) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def cifar_resnet(depth: int, num_classes: int = 100) -> CifarResNet:
    return CifarResNet(DEPTHS[depth], num_classes)
