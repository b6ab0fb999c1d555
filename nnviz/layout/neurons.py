"""The ``neurons`` paper style (NN-SVG's FCNN look): one column of circles per dense layer.

The figure is the paper path of the view (nnviz.layout.paper_path): its dense head (the
trailing fully connected layers, and the input when nothing else comes before them) is drawn
as columns of circles whose heights follow the layer widths (linear, square-root or log
scale, capped at ``max_units`` circles with a visible ellipsis), fully connected to each
other; a convolutional front before the head is drawn as 3-D blocks by the blocks engine, as
in the LeNet/AlexNet figures people draw by hand. Networks that are not "conv front + dense
head" (transformers, recurrent nets) are refused with a pointer to the blocks or graph style:
drawing their attention or recurrent layers as neurons would misrepresent them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node, shape_numel
from nnviz.layout.labels import human_count
from nnviz.layout.model import LabelLine, Layout
from nnviz.layout.paper_path import display_names
from nnviz.text import line_height, truncate
from nnviz.theme import Theme, paper_settings

# Layers a dense head cannot follow: drawing them as blocks in front of neuron columns would
# pass a transformer or an RNN off as a CNN.
NOT_A_FRONT = ("attention", "recurrent", "embedding")


def truncate_left(text: str, size: float, max_width: float) -> str:
    """Shorten from the left ("…/attn/q_proj"): the end of a scope path says the most."""
    return truncate(text[::-1], size, max_width)[::-1]


def label_height(lines: list[LabelLine], theme: Theme) -> float:
    """Height of a label block, as the scene lays the lines out (same metrics)."""
    sizes = [float(theme["font"]["title_size"] if ln.style == "title" else theme["font"]["size"])
             for ln in lines]
    return sum(line_height(s) for s in sizes) + theme["node"]["line_gap"] * max(0, len(lines) - 1)


def _units(graph: Graph, node: Node) -> int | None:
    """How many units this layer has, from its output shape (batch dim dropped)."""
    from nnviz.passes.util import is_channels_last

    tid = node.outputs[0] if node.outputs else None
    tensor = graph.tensors.get(tid) if tid else None
    shape = tensor.shape if tensor is not None else None
    if not shape:
        return None
    if node.kind == "io":
        # An input's width is everything but the batch dim (an MNIST image is 784 units).
        n = shape_numel(shape[1:] if len(shape) > 1 else shape)
        return n if n else None  # an empty tensor has no units to draw
    if node.kind == "conv" and len(shape) >= 3:
        dim = shape[-1] if is_channels_last(graph, node) else shape[1]
    else:
        dim = shape[-1]
    return dim if isinstance(dim, int) and dim > 0 else None



def main_path(graph: Graph, counts: Callable[[Node], bool]) -> list[str]:
    """Node ids of the data path through the most counted layers (see paper_path)."""
    from nnviz.layout.paper_path import main_path as path

    return path(graph, counts)


def _is_dense(graph: Graph, node: Node) -> bool:
    """A fully connected layer on flat features (not a per-token or per-pixel Dense)."""
    if node.kind != "linear":
        return False
    tensor = graph.tensors.get(node.outputs[0]) if node.outputs else None
    return tensor is None or tensor.shape is None or len(tensor.shape) <= 2


def dense_groups(view: Graph, full: Graph) -> list[str]:
    """Paths ("classifier") of the view's collapsed groups that hold only dense layers (and
    their activations, dropout, reshapes) in the full graph: the neurons style opens them."""
    from nnviz.layout.paper_path import RIDER_KINDS

    inside: dict[tuple[str, ...], list[Node]] = {}
    paths = [tuple(n.meta["group"]) for n in view.nodes.values()
             if n.kind == "group" and isinstance(n.meta.get("group"), list)]
    for node in full.nodes.values():
        for p in paths:
            if node.group[:len(p)] == p:
                inside.setdefault(p, []).append(node)
    out = []
    for p in paths:
        nodes = inside.get(p, [])
        if any(n.kind == "linear" for n in nodes) and all(
                n.kind == "linear" or (n.kind in RIDER_KINDS and n.kind != "norm")
                for n in nodes):
            out.append("/".join(p))
    return out


def _circles(counts: list[int | None], cap: int, mode: str) -> list[int]:
    """Circles drawn per column: every unit when all layers fit ``cap``, else proportional
    to the widths on the chosen scale, at least three (or all) per layer."""
    from nnviz.layout.blocks import _f

    known = [n for n in counts if n]
    top = max(known, default=1)
    mode = "sqrt" if mode == "auto" else mode  # columns of 784 and 10 units need it
    out = []
    for n in counts:
        if n is None:
            out.append(3)
        elif top <= cap:
            out.append(n)
        else:
            want = round(cap * _f(mode, n) / _f(mode, top))
            out.append(min(n, max(min(n, 3), want)))
    return out


def layout_neurons(graph: Graph, theme: Theme, direction: str = "LR",
                   proportions: str | None = None, rows: int | None = None) -> Layout:
    """Neuron columns for the dense head, blocks for a convolutional front; LR/RL draw left
    to right, TB/BT top to bottom (forwards, like the papers)."""
    from nnviz.layout.blocks import PROPORTIONS, layout_sequence, unit_lines
    from nnviz.layout.paper_path import paper_path

    cfg = paper_settings(theme, "neurons")
    mode = proportions or str(cfg.get("proportions", "auto"))
    if mode not in PROPORTIONS:
        raise NnvizError(f"unknown proportions '{mode}'; use one of {', '.join(PROPORTIONS)}")
    name = graph.name or "the model"
    ppath = paper_path(graph, "neurons")
    units = ppath.units
    k = len(units)
    while k > 0 and _is_dense(graph, units[k - 1].node):
        k -= 1
    if k == 1 and units[0].node.kind == "io":
        k = 0  # nothing but the input before the dense layers: an FCNN, input as a column
    head = units[k:]
    odd = [u.node for u in units[:k] if u.node.kind in NOT_A_FRONT]
    if odd:
        ops = sorted({n.op for n in odd})
        raise NnvizError(
            f"the neurons style draws fully connected layers (after an optional "
            f"convolutional front), but '{name}' has {', '.join(ops)} layers "
            f"({odd[0].name or odd[0].id}, ...); use --style blocks or --style graph")
    if not any(u.node.kind == "linear" for u in head):
        last = units[-1].node
        raise NnvizError(
            f"the neurons style draws dense layers as columns of units, and '{name}' ends in "
            f"{last.op} ({last.name or last.id}), not a dense layer; use --style blocks or "
            "--style graph")
    into_head = [s for s in ppath.skips if s.dst >= k and s.src >= max(k - 1, 0)]
    if into_head:
        raise NnvizError(
            f"the neurons style draws dense layers fully connected in sequence, but '{name}' "
            "has a skip connection between them; use --style blocks or --style graph")
    r, gap = float(cfg["radius"]), float(cfg["unit_gap"])
    pitch = 2 * r + gap
    counts = [_units(graph, u.node) for u in head]
    shown = _circles(counts, max(3, int(cfg["max_units"])), mode)
    names = display_names([u.node for u in units])
    columns: dict[int, dict[str, Any]] = {}
    for j, (unit, n, m) in enumerate(zip(head, counts, shown)):
        ell = n is None or m < n
        slots = m + (1 if ell else 0)
        e_slot = m // 2 if ell else -1
        cross = [(s - (slots - 1) / 2) * pitch for s in range(slots)]
        centers = [c for s, c in enumerate(cross) if s != e_slot]
        dots = [cross[e_slot] + d * r * 0.7 for d in (-1, 0, 1)] if ell else []
        text = "? units" if n is None else f"{human_count(n) if n >= 10000 else n} units"
        columns[k + j] = {
            "radius": r, "centers_cross": [round(c, 2) for c in centers],
            "dots_cross": [round(d, 2) for d in dots], "units": n,
            "lines": unit_lines(graph, unit, names[k + j], text, theme, fused_in_title=True),
        }
    flow = "LR" if direction in ("LR", "RL") else "TB"
    return layout_sequence(graph, theme, ppath, flow, mode, "neurons", columns,
                           rows=rows or 1)
