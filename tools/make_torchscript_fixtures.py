"""Write the TorchScript test fixtures (tests/fixtures/torchscript/), run once by hand.

    python tools/make_torchscript_fixtures.py

Needs torch and transformers (no downloads: configs with random weights). The tests read the
committed files and rebuild the same models (tests/torchscript_models.py) for PyTorch's own
parameter counts, so regenerating only changes weight values.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "torchscript"
sys.path.insert(0, str(REPO / "tests"))

from torchscript_models import Gated, ResNet18, gpt2_tiny, quantized_net  # noqa: E402


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    warnings.simplefilter("ignore")
    resnet = ResNet18(width=8, num_classes=10).eval()
    traced = torch.jit.trace(resnet, torch.randn(1, 3, 64, 64))
    torch.jit.save(traced, OUT / "resnet18_w8_traced.pt")
    torch.jit.save(torch.jit.script(resnet), OUT / "resnet18_w8_scripted.pth")
    gated = torch.jit.script(Gated().eval())
    torch.jit.save(gated, OUT / "gated_scripted.pt")
    gated._save_for_lite_interpreter(str(OUT / "gated_mobile.ptl"))
    torch.jit.save(torch.jit.script(quantized_net()), OUT / "quantized_scripted.pt")
    gpt = gpt2_tiny()
    ids = torch.zeros(1, 16, dtype=torch.long)
    torch.jit.save(torch.jit.trace(gpt, ids, strict=False), OUT / "gpt2_tiny_traced.pt")
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
