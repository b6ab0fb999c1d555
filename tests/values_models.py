"""Small PyTorch models with planted faults for the value-overlay tests (import specs too)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(width: int = 16, depth: int = 4, act: type = nn.ReLU, scale: float = 1.0,
        seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), act()]
    model = nn.Sequential(*layers, nn.Linear(width, 4))
    if scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(scale)
    return model


def sigmoid20() -> nn.Sequential:
    """20 Linear+Sigmoid layers: gradients vanish toward the input."""
    return mlp(16, 20, nn.Sigmoid)


def exploding() -> nn.Sequential:
    """A ReLU MLP initialised x10: every layer's gradient dwarfs its weights."""
    return mlp(32, 6, nn.ReLU, scale=10.0)


class DeadReLU(nn.Module):
    """fc1's bias is -100: the ReLU after it outputs zeros only."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(8, 16)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(16, 4)
        with torch.no_grad():
            self.fc1.bias.fill_(-100.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


class NaNWeight(nn.Module):
    """One NaN in fc2's weight: fc2 is the NaN origin, not fc3 or the output."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(8, 16)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 4)
        with torch.no_grad():
            self.fc2.weight[3, 5] = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(self.relu(self.fc1(x)))))


class Raises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this model always fails")


class SmallCNN(nn.Module):
    """Conv, BatchNorm, in-place ReLU, residual add, pooling, a sigmoid head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = h + self.conv2(h)
        return torch.sigmoid(self.fc(self.pool(h).flatten(1)))


def four_layers() -> nn.Sequential:
    """fc0..fc3 with ReLUs, a fixed init: the checkpoints of the weight-diff test."""
    return mlp(8, 3)
