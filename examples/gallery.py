"""Regenerate the gallery: every example model in every style and theme.

    python examples/gallery.py            # writes examples/gallery/*.svg, *.png, a few .pdf/.tex
    python examples/gallery.py --out DIR  # somewhere else

The models are the example files next to this script (made by make_examples.py and friends)
plus a LeNet-5 built here with onnx.helper, the classic figure for the blocks style. A style
that does not apply to a model (e.g. ``neurons`` for a network with no layer widths) is
skipped with a note. Output is deterministic, so regenerating only changes files whose
drawing changed. examples/gallery/README.md indexes the pictures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
STYLES = ("graph", "blocks", "neurons")
THEMES = ("default", "paper", "dark")
# Models (stem -> file name in examples/); missing files are skipped, so a partial checkout
# still produces a gallery.
EXAMPLES = {
    "lenet5": None,  # built below
    "mlp": "mlp.onnx",
    "resnet_block": "resnet_block.onnx",
    "keras_resnet_mini": "keras_resnet_mini.keras",
    "transformer_block": "transformer_block.onnx",
}
# The vector formats, shown for one figure each.
VECTOR = {("lenet5", "blocks", "paper"), ("mlp", "neurons", "paper"),
          ("resnet_block", "graph", "paper")}


def lenet5(path: Path) -> Path:
    """LeNet-5 (LeCun et al. 1998) as an ONNX file: conv/pool x2, then three dense layers."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def weight(name: str, shape: tuple[int, ...]) -> str:
        inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
        return name

    def conv(x: str, name: str, cin: int, cout: int, pad: int) -> str:
        nodes.append(helper.make_node(
            "Conv", [x, weight(f"{name}.weight", (cout, cin, 5, 5)),
                     weight(f"{name}.bias", (cout,))], [f"/{name}/Conv_output_0"],
            name=f"{name}", kernel_shape=[5, 5], pads=[pad] * 4))
        nodes.append(helper.make_node("Tanh", [f"/{name}/Conv_output_0"], [f"{name}_act"],
                                      name=f"{name}_tanh"))
        return f"{name}_act"

    def pool(x: str, name: str) -> str:
        nodes.append(helper.make_node("AveragePool", [x], [name], name=name,
                                      kernel_shape=[2, 2], strides=[2, 2]))
        return name

    def dense(x: str, name: str, din: int, dout: int, act: bool) -> str:
        nodes.append(helper.make_node("Gemm", [x, weight(f"{name}.weight", (dout, din)),
                                               weight(f"{name}.bias", (dout,))],
                                      [f"{name}_out"], name=name, transB=1))
        if not act:
            return f"{name}_out"
        nodes.append(helper.make_node("Tanh", [f"{name}_out"], [f"{name}_act"],
                                      name=f"{name}_tanh"))
        return f"{name}_act"

    x = conv("image", "c1", 1, 6, 2)
    x = pool(x, "s2")
    x = conv(x, "c3", 6, 16, 0)
    x = pool(x, "s4")
    nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flatten"))
    x = dense("flat", "c5", 400, 120, True)
    x = dense(x, "f6", 120, 84, True)
    x = dense(x, "output", 84, 10, False)
    graph = helper.make_graph(
        nodes, "LeNet-5",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "gallery")
    parser.add_argument("--scale", type=float, default=1.5, help="PNG scale (2 = retina)")
    args = parser.parse_args(argv)

    import nnviz
    from nnviz.errors import NnvizError

    args.out.mkdir(parents=True, exist_ok=True)
    index = ["# nnviz gallery", "",
             "Regenerate with `python examples/gallery.py`. Each picture links its SVG.", ""]
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[str, Path] = {}
        for stem, name in EXAMPLES.items():
            path = lenet5(Path(tmp) / "lenet5.onnx") if name is None else HERE / name
            if path.exists():
                models[stem] = path
            else:
                print(f"skip {stem}: {path.name} is missing (run make_examples.py)",
                      file=sys.stderr)
        for stem, path in models.items():
            index += [f"## {stem}", "", "| style | " + " | ".join(THEMES) + " |",
                      "|---|" + "---|" * len(THEMES)]
            for style in STYLES:
                cells = []
                for theme in THEMES:
                    base = f"{stem}-{style}-{theme}"
                    direction = "TB" if style == "graph" else "LR"
                    try:
                        d = nnviz.draw(path, args.out / f"{base}.svg", style=style, theme=theme,
                                       direction=direction, scale=args.scale)
                    except NnvizError as exc:
                        print(f"skip {base}: {exc}", file=sys.stderr)
                        cells.append("n/a")
                        continue
                    d.save(args.out / f"{base}.png")
                    written += 2
                    if (stem, style, theme) in VECTOR:
                        d.save(args.out / f"{base}.pdf")
                        d.save(args.out / f"{base}.tex")
                        written += 2
                    cells.append(f"[![{base}]({base}.png)]({base}.svg)")
                index.append(f"| {style} | " + " | ".join(cells) + " |")
            index.append("")
    (args.out / "README.md").write_text("\n".join(index), encoding="utf-8")
    print(f"wrote {written} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
