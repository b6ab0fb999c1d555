"""Live PyTorch module -> SVG in a cold process: nnviz vs torchview (issue 19's torch rows).

    python -m bench.torch_bench                    # both models, best of 3
    python -m bench.torch_bench --models resnet18 --repeat 5 --captures auto,export

Each run is a fresh ``python`` process that imports torch, builds the model (random weights,
nothing downloaded) and writes an SVG, like a user's script: interpreter start, imports,
capture, layout and rendering all count. Models:

  resnet18   the hand-written torchvision-style ResNet-18 of tests/zoo (1x3x224x224)
  encoder48  nn.TransformerEncoder, 48 layers, d=256, 8 heads, ff 1024 (1x64x256)

Rows: nnviz with each ``--captures`` method ("auto" is the default a user gets; "export"
forces torch.export) and torchview (``draw_graph(...).visual_graph.render``, with Graphviz
dot; skipped when torchview is not installed). Printed: best wall time and the CPU time
(user + system of the child) of the same run, and each row's ratios to torchview's; say the
machine's load next to the numbers (printed from /proc/loadavg). Each runner gets one
untimed run first, which caches byte code (as an installed package has it) and warms the
page cache.
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

REPO = Path(__file__).resolve().parent.parent

_MODELS = {
    "resnet18": ("from tests.zoo.torch_models import ResNet18\n"
                 "model = ResNet18().eval()\n"
                 "x = torch.randn(1, 3, 224, 224)\n"),
    "encoder48": ("from torch import nn\n"
                  "torch.manual_seed(0)\n"
                  "layer = nn.TransformerEncoderLayer(256, 8, 1024, dropout=0.0, "
                  "batch_first=True)\n"
                  "model = nn.TransformerEncoder(layer, 48, enable_nested_tensor=False).eval()\n"
                  "x = torch.randn(1, 64, 256)\n"),
}

_NNVIZ = ("import nnviz\n"
          "nnviz.draw(model, OUT, example_input=x, capture=CAPTURE)\n")

_TORCHVIEW = ("from torchview import draw_graph\n"
              "g = draw_graph(model, input_data=x, device='cpu')\n"
              "g.visual_graph.render(OUT[:-4], format='svg', cleanup=True)\n")


def _script(model: str, runner: str, out: Path, capture: str) -> str:
    body = _TORCHVIEW if runner == "torchview" else _NNVIZ
    return (f"import torch\nOUT = {str(out)!r}\nCAPTURE = {capture!r}\n"
            + _MODELS[model] + body)


def _env(tmp: Path) -> dict[str, str]:
    """The children's environment: this checkout first on the path, and byte code cached
    (in ``tmp``, not the checkout) as an installed package has it. With
    PYTHONDONTWRITEBYTECODE set, as it is on the team machine, every run compiled nnviz's
    modules from source (0.3-0.4 s of CPU) while torch and torchview read their .pyc files."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPYCACHEPREFIX": str(tmp / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(model: str, runner: str, capture: str, tmp: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one fresh process drawing ``model``."""
    out = tmp / f"{model}-{runner}-{capture}.svg"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _script(model, runner, out, capture)],
                          cwd=str(REPO), capture_output=True, text=True, env=_env(tmp))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{runner} {capture} on {model} failed: {proc.stderr[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _has_torchview() -> bool:
    proc = subprocess.run([sys.executable, "-c", "import torchview, graphviz"],
                          capture_output=True)
    return proc.returncode == 0


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(_MODELS))
    ap.add_argument("--captures", default="auto,export")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    runners = [("nnviz", c) for c in args.captures.split(",") if c]
    if _has_torchview():
        runners.append(("torchview", "-"))
    else:
        print("torchview not installed (pip install torchview graphviz): its row is skipped")
    with open("/proc/loadavg") as fh:
        print(f"load average before: {fh.read().split()[:3]}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="nnviz-torch-bench-") as tmp:
        for model in args.models.split(","):
            results = {}
            for runner, capture in runners:
                # One untimed run first: it writes the byte-code cache and warms the page
                # cache for every runner alike.
                run_once(model, runner, capture, Path(tmp))
                best = min((run_once(model, runner, capture, Path(tmp))
                            for _ in range(args.repeat)), key=lambda r: r[0])
                results[(runner, capture)] = best
            ref = results.get(("torchview", "-"))
            for (runner, capture), (wall, cpu) in results.items():
                row = {"model": model, "runner": runner, "capture": capture,
                       "wall": round(wall, 2), "cpu": round(cpu, 2),
                       "vs_torchview": round(wall / ref[0], 2) if ref else None,
                       "cpu_vs_torchview": round(cpu / ref[1], 2) if ref else None}
                rows.append(row)
                name = runner if runner == "torchview" else f"nnviz ({capture})"
                ratio = (f"  {row['vs_torchview']:.2f}x torchview (cpu "
                         f"{row['cpu_vs_torchview']:.2f}x)") if ref else ""
                print(f"{model:10s} {name:16s} wall {wall:6.2f} s  cpu {cpu:6.2f} s{ratio}")
    with open("/proc/loadavg") as fh:
        print(f"load average after: {fh.read().split()[:3]}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
