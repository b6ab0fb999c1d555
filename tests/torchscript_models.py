"""Hand-written models for the TorchScript fixtures and tests (torchvision does not work here).

Shared by tools/make_torchscript_fixtures.py (which writes tests/fixtures/torchscript/) and
tests/test_torchscript.py (which rebuilds them to get PyTorch's own parameter counts).
"""

from __future__ import annotations

import torch
from shared_models import BasicBlock
from torch import nn


class ResNet18(nn.Module):
    """torchvision's resnet18 layout; ``width`` 64 is the real model (11,689,512 params)."""

    def __init__(self, width: int = 64, num_classes: int = 1000) -> None:
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [w, 2 * w, 4 * w, 8 * w]
        cin = w
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, c, stride),
                                                         BasicBlock(c, c)))
            cin = c
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Gated(nn.Module):
    """Data-dependent control flow for torch.jit.script: prim::If and prim::Loop."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.a = nn.Linear(dim, dim)
        self.b = nn.Sequential(nn.Linear(dim, dim), nn.GELU())
        self.norm = nn.LayerNorm(dim)
        self.register_buffer("scale", torch.ones(dim))

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        x = self.proj(x)
        if bool(x.mean() > 0):
            x = self.a(x)
        else:
            x = self.b(x)
        for _ in range(steps):
            x = torch.relu(self.a(x)) + x
        return self.norm(x) * self.scale


def gpt2_tiny() -> nn.Module:
    """A transformers GPT-2 with a small config, ready for torch.jit.trace."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=128,
                     torchscript=True, use_cache=False,
                     bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


class QuantNet(nn.Module):
    """Eager-mode static quantization (fbgemm): quantized Conv2d/ReLU, then a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8 * 8 * 8, 10)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(torch.flatten(x, 1)))


def quantized_net() -> nn.Module:
    """QuantNet calibrated on random data and converted to int8 (deterministic structure)."""
    torch.manual_seed(0)
    model = QuantNet().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    prepared = torch.ao.quantization.prepare(model)
    prepared(torch.randn(4, 3, 16, 16))
    return torch.ao.quantization.convert(prepared)
