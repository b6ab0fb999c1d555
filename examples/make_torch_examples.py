"""Build the PyTorch example: `python examples/make_torch_examples.py` (needs torch).

Writes, next to this script:

* ``torch_hybrid.pt2`` - a small conv + transformer classifier exported with torch.export
  (seeded weights; a conv stem, two residual blocks, a TransformerEncoderLayer over the
  feature-map tokens and a linear head), the kind of file ``nnviz net.pt2 -o net.svg`` reads;
* ``torch_hybrid.svg`` - its drawing at module level: one box per leaf module with its
  parameters, the functional ops between them (add, flatten, transpose, mean) and a frame per
  module path (``blocks.0``, ``encoder``) named after the module class.

The same model can be drawn straight from this file's code:
``nnviz examples.make_torch_examples:HybridNet --input-shape 1,3,32,32 -o net.svg``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(y)) + x)


class HybridNet(nn.Module):
    """Conv stem -> 2 residual blocks -> tokens -> transformer layer -> mean -> head."""

    def __init__(self, channels: int = 32, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(channels), ResidualBlock(channels))
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.TransformerEncoderLayer(channels, 4, 2 * channels, batch_first=True)
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        tokens = x.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, H*W, C)
        tokens = self.encoder(tokens)
        return self.head(self.norm(tokens.mean(dim=1)))


def build(out_dir: Path = HERE) -> list[Path]:
    torch.manual_seed(0)
    model = HybridNet().eval()
    example = (torch.randn(1, 3, 32, 32),)
    program = torch.export.export(model, example)
    pt2 = out_dir / "torch_hybrid.pt2"
    torch.export.save(program, pt2)

    import nnviz

    svg = out_dir / "torch_hybrid.svg"
    nnviz.draw(str(pt2), svg)
    return [pt2, svg]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args()
    for path in build(args.out):
        print(path)


if __name__ == "__main__":
    main()
