"""What a node box says, and how big that makes it (from the shipped font metrics)."""

from __future__ import annotations

import re

from nnviz.ir import Graph, Node, format_shape
from nnviz.layout.model import LabelLine
from nnviz.text import line_height, text_width, truncate
from nnviz.theme import Theme


def human_count(n: int) -> str:
    """1234 -> '1.2K', 25557032 -> '25.6M'."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def display_name(node: Node) -> str:
    """The short name worth printing in the box; the group frame already shows the scope.

    '/layer1/block0/conv1/Conv' -> 'conv1' (exporters end scoped names with the op type),
    'encoder.layers.3.linear1' -> 'linear1', 'features.0' -> 'features.0'; '' when the name
    only repeats the op.
    """
    name = node.name.strip()
    parts = [p for p in name.split("/") if p]
    if len(parts) > 1 and re.fullmatch(re.escape(node.op) + r"(_\d+)?", parts[-1]):
        parts.pop()
    if parts:
        name = parts[-1]
    dotted = name.split(".")
    if len(dotted) > 1 and node.group:
        name = ".".join(dotted[-2:]) if dotted[-1].isdigit() else dotted[-1]
    if re.fullmatch(re.escape(node.op) + r"(_\d+)?", name):
        return ""
    return name


def node_lines(graph: Graph, node: Node) -> list[LabelLine]:
    badge = f" \u00d7{node.meta['repeat']}" if node.meta.get("repeat") else ""
    lines = [LabelLine(node.op + badge, "title")]
    short = display_name(node)
    if short:
        lines.append(LabelLine(short, "name"))
    if node.meta.get("opaque"):  # user code (a Keras Lambda, a custom class): not read, not run
        lines.append(LabelLine("(opaque)", "detail"))
    shapes = []
    for t in node.outputs[:2]:
        tensor = graph.tensors.get(t)
        if tensor is not None and tensor.shape is not None:
            shapes.append(format_shape(tensor.shape))
    if shapes:
        lines.append(LabelLine(" ".join(shapes), "detail"))
    if node.kind == "io" and not shapes and node.inputs:
        tensor = graph.tensors.get(node.inputs[0])
        if tensor is not None and tensor.shape is not None:
            lines.append(LabelLine(format_shape(tensor.shape), "detail"))
    count = node.param_count
    if count:
        lines.append(LabelLine(f"params: {human_count(count)}", "detail"))
    shared = node.meta.get("shared_params")
    if shared:  # a tied weight: the same numbers on several boxes are counted once
        others = sorted({o for names in shared.values() for o in names})
        lines.append(LabelLine("shared with " + ", ".join(others), "detail"))
    return lines


def font_size(theme: Theme, style: str) -> float:
    return float(theme["font"]["title_size"] if style == "title" else theme["font"]["size"])


def fit_lines(lines: list[LabelLine], theme: Theme) -> list[LabelLine]:
    """Truncate lines that are wider than the theme's max box width."""
    node = theme["node"]
    max_text = node["max_width"] - 2 * node["padding_x"]
    return [LabelLine(truncate(ln.text, font_size(theme, ln.style), max_text, ln.style == "title"),
                      ln.style) for ln in lines]


def box_size(lines: list[LabelLine], theme: Theme) -> tuple[float, float]:
    node = theme["node"]
    width = max((text_width(ln.text, font_size(theme, ln.style), ln.style == "title")
                 for ln in lines), default=0.0)
    height = sum(line_height(font_size(theme, ln.style)) for ln in lines)
    height += node["line_gap"] * max(0, len(lines) - 1)
    w = max(node["min_width"], width + 2 * node["padding_x"])
    h = height + 2 * node["padding_y"]
    return round(w, 2), round(h, 2)


def format_label_text(lines: list[LabelLine]) -> str:
    return "\n".join(ln.text for ln in lines)
