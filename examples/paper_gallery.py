"""Regenerate the paper-figure gallery: six real models, each supported style, paper theme, at
a paper's column width (3.3 in) and full width (6.9 in).

    python examples/paper_gallery.py            # writes examples/gallery/paper/
    python examples/paper_gallery.py --out DIR
    python examples/paper_gallery.py --models unet   # only its figures and index section

The models are written by hand in tests/paper_models.py (torchvision-style ResNet-18 and
MobileNetV2, a UNet, a GPT-style decoder, an MLP 784-256-128-10 and LeNet-5; random weights,
nothing downloaded). A style that refuses a model is listed with its one-sentence reason.
Only PNGs at 110 dpi are written (small files to commit; pass --svg for the vector
originals). README.md in the output folder indexes the figures with the smallest printed
font size of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

MODELS = ("resnet18", "unet", "mobilenetv2", "gpt", "mlp", "lenet5")
# (style, direction): the paper styles in both flows; LR rows suit full-width figures, TB
# columns a single paper column.
FIGURES = (("graph", "TB"), ("blocks", "LR"), ("blocks", "TB"), ("neurons", "LR"),
           ("neurons", "TB"))
WIDTHS = ("3.3in", "6.9in")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "gallery" / "paper")
    parser.add_argument("--dpi", type=float, default=110.0)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--svg", action="store_true", help="also write the SVGs")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")

    import paper_models as pm

    import nnviz
    from nnviz.errors import NnvizError

    args.out.mkdir(parents=True, exist_ok=True)
    index = ["# Paper figures", "",
             "Regenerate with `python examples/paper_gallery.py`. Paper theme, PNG at 110 dpi; "
             "under each figure the smallest printed font size at that width (⚠ below 6 pt, "
             "with the `--depth` that would print readable text), the printed height, and "
             "how the figure flows (a left-to-right figure wraps into as many rows as the "
             "width needs). A page's text block is about 9 in tall.", ""]
    for name in args.models:
        graph = pm.load_torch(name, capture="auto")
        index += [f"## {name}", "", "| figure | " + " | ".join(WIDTHS) + " |",
                  "|---|" + "---|" * len(WIDTHS)]
        for style, direction in FIGURES:
            cells = []
            for width in WIDTHS:
                base = f"{name}-{style}-{direction}-{width}"
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # the size is in the index
                        d = nnviz.draw(graph, None, style=style,
                                       theme="paper", direction=direction, width=width,
                                       dpi=args.dpi)
                except NnvizError as exc:
                    cells.append(f"refused: {exc}")
                    print(f"{base}: {exc}", file=sys.stderr)
                    continue
                d.save(args.out / f"{base}.png")
                if args.svg:
                    d.save(args.out / f"{base}.svg")
                pt = d.smallest_font_pt
                flag = " ⚠" if pt is not None and pt < 6 else ""
                tall = d.layout.height / d.layout.width * float(width[:-2])
                how = d.flow_note()
                hint = f" (try {d.readable_with})" if flag and d.readable_with else ""
                cells.append(f"![{base}]({base}.png)<br>{pt:.1f} pt{flag}{hint}, "
                             f"{tall:.1f} in tall" + (f", {how}" if how else ""))
                print(f"{base}: smallest text {pt:.1f} pt", file=sys.stderr)
            if all(c.startswith("refused") for c in cells):
                cells = [cells[0]] + [""] * (len(cells) - 1)
            index.append(f"| {style} {direction} | " + " | ".join(cells) + " |")
        index.append("")
    readme = args.out / "README.md"
    if readme.exists():
        # a subset (--models unet) replaces only those models' sections of the index; the
        # hand-written sections (the comparison with NN-SVG, PlotNeuralNet and visualkeras)
        # are kept where they are
        index = merge_sections(readme.read_text(encoding="utf-8"), "\n".join(index))
    readme.write_text("\n".join(index), encoding="utf-8")
    return 0


def merge_sections(old: str, new: str) -> list[str]:
    """The index ``old`` with each "## model" section that ``new`` has replaced by new's
    (sections new does not have are kept, in their place)."""
    def split(text: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
        head: list[str] = []
        sections: dict[str, list[str]] = {}
        order: list[str] = []
        cur: list[str] = head
        for line in text.split("\n"):
            if line.startswith("## "):
                cur = sections.setdefault(line[3:].strip(), [])
                order.append(line[3:].strip())
            cur.append(line)
        return head, sections, order

    head, old_secs, order = split(old)
    _, new_secs, new_order = split(new)
    out = list(head)
    for name in order + [n for n in new_order if n not in old_secs]:
        out += new_secs.get(name, old_secs.get(name, []))
    return out


if __name__ == "__main__":
    sys.exit(main())
