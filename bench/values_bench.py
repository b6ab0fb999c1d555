"""Value overlay cost vs the bare forward + backward pass (issue 16's benchmark; not a test).

For GPT-2 small (transformers, random weights, one 128-token sample) and a ResNet-50-style
network (hand-written: torchvision does not work here; one 224x224 image), each mode runs in
its own process so peak memory (ru_maxrss) is that mode's alone:

  bare     model(x) and mean(output).backward(), eval mode (what the overlay computes)
  capture  nnviz.values.capture: the same run with per-tensor statistics and gradient hooks
  overlay  capture + layout + SVG of `nnviz MODEL -o net.svg --overlay gradients`

Each timing is the best of --repeat runs after one warm-up, in the same process. Usage:
    python bench/values_bench.py            # both models
    python bench/values_bench.py --model resnet50 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def resnet50():
    """ResNet-50 (bottleneck blocks 3-4-6-3, 25.6M parameters), torchvision's layout."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + idt)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin, layers = 64, []
            for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                blocks = []
                for i in range(n):
                    blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                    cin = width * 4
                layers.append(nn.Sequential(*blocks))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    return ResNet50()


def gpt2():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(use_cache=False)
    model = GPT2LMHeadModel(cfg)
    model.config.use_cache = False
    return model


MODELS = {"gpt2": (gpt2, (1, 128), "int64"), "resnet50": (resnet50, (1, 3, 224, 224),
                                                           "float32")}


def _child(model_name: str, mode: str, repeat: int) -> dict:
    import numpy as np
    import torch

    factory, shape, dtype = MODELS[model_name]
    model = factory()
    from nnviz.values.inputs import generate

    hi = 50257 if model_name == "gpt2" else None
    sample = generate([shape], dtype, 0, (0, hi) if hi else None)
    x = torch.from_numpy(np.ascontiguousarray(sample.arrays[0]))
    times = []
    out_dir = tempfile.mkdtemp(prefix="nnviz-vbench-")
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        if mode == "bare":
            model.eval()
            with torch.enable_grad():
                out = model(x)
                logits = out.logits if hasattr(out, "logits") else out
                logits.float().mean().backward()
            model.zero_grad(set_to_none=True)
        elif mode == "capture":
            from nnviz.values import capture

            capture(model, sample=sample)
        else:
            from nnviz.api import draw
            from nnviz.passes import ViewOptions
            from nnviz.values import capture

            g = capture(model, sample=sample)
            draw(g, os.path.join(out_dir, "net.svg"), view=ViewOptions(fold=False),
                 overlay={"overlay": "gradients"})
        if i:  # the first run warms up (allocator, lazy imports)
            times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.parameters())
    return {"model": model_name, "mode": mode, "best_s": min(times), "peak_mb": peak_mb,
            "params": params}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), action="append")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], args.repeat)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows = []
    for name in args.model or ["gpt2", "resnet50"]:
        res = {}
        for mode in ("bare", "capture", "overlay"):
            out = subprocess.run([sys.executable, __file__, "--child", name, mode, "--repeat",
                                  str(args.repeat)], capture_output=True, text=True, env=env,
                                 check=True)
            res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(res)
        b = res["bare"]
        print(f"{name} ({b['params'] / 1e6:.1f}M params): "
              f"bare fwd+bwd {b['best_s']:.3f} s, {b['peak_mb']:.0f} MB peak; "
              f"capture {res['capture']['best_s']:.3f} s "
              f"({res['capture']['best_s'] / b['best_s']:.2f}x), "
              f"{res['capture']['peak_mb']:.0f} MB; "
              f"overlay end to end {res['overlay']['best_s']:.3f} s "
              f"({res['overlay']['best_s'] / b['best_s']:.2f}x), "
              f"{res['overlay']['peak_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
