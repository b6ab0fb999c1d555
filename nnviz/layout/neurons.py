"""The ``neurons`` paper style (NN-SVG's FCNN look): one column of circles per layer.

Layers are read from the real IR: each graph input and each layer with a width (dense /
linear, conv channels, recurrent or embedding size) becomes a column with one circle per unit,
capped at ``max_units`` circles with an ellipsis for wide layers. Adjacent columns are fully
connected. Geometry goes into ``Layout.extras`` (columns, circle centres, ellipsis dots,
connections); each column also gets a NodeBox (its bounding box and its label) so JSON and
the viewer know what is where.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node, shape_numel
from nnviz.layout.labels import human_count
from nnviz.layout.model import LabelLine, Layout, NodeBox
from nnviz.text import line_height, text_width, truncate
from nnviz.theme import Theme

WIDTH_KINDS = ("linear", "conv", "recurrent", "embedding", "attention")
LABEL_MAX = 150.0  # px: longer layer names are shortened with an ellipsis
LABEL_GAP = 10.0  # px between the circles and the labels


def paper_settings(theme: Theme, style: str) -> dict[str, Any]:
    """The theme's settings for a paper style, with built-in fallbacks for old theme files."""
    defaults = {
        "neurons": {"radius": 10, "unit_gap": 8, "layer_gap": 90, "max_units": 8,
                    "connection": "#9ca3af", "connection_width": 0.6, "stroke_width": 1.2},
        "blocks": {"gap": 28, "spatial_base": 12, "spatial_scale": 11, "max_height": 150,
                   "channel_base": 4, "channel_scale": 4, "depth_ratio": 0.45,
                   "vector_width": 8, "stroke_width": 0.8},
    }[style]
    return {**defaults, **theme.get("paper", {}).get(style, {})}


def display_name(node: Node) -> str:
    """The name line of a layer label ('' when it would only repeat the op).

    A bare index ("0", the name of an nn.Sequential child) says nothing on its own, so it gets
    its parent scope: "features.0". Exporter paths like "/fc1/Gemm" lose the trailing op
    segment the title already shows.
    """
    name = node.name or ""
    if "/" in name:
        parts = [p for p in name.split("/") if p]
        if len(parts) > 1 and parts[-1] == node.op:
            parts = parts[:-1]
        name = "/".join(parts)
    if name == node.op:
        return ""
    if name.isdigit() and node.group:
        return f"{node.group[-1]}.{name}"
    return name


def truncate_left(text: str, size: float, max_width: float) -> str:
    """Shorten from the left ("…/attn/q_proj"): the end of a scope path says the most."""
    return truncate(text[::-1], size, max_width)[::-1]


def display_names(nodes: list[Node]) -> list[str]:
    """Name lines for the drawn layers; names that repeat (two blocks' "conv1") get their
    parent scope, so every label says which layer it is."""
    names = [display_name(n) for n in nodes]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    out = []
    for node, name in zip(nodes, names):
        if name and seen[name] > 1 and node.group and "/" not in name:
            scope = node.group[-1]
            if scope.isdigit() and len(node.group) > 1:  # blocks/0 reads as blocks.0
                scope = f"{node.group[-2]}.{scope}"
            name = f"{scope}/{name}"
        out.append(name)
    return out


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


def _activation(graph: Graph, node: Node, succ: dict[str, list[str]]) -> str:
    """The activation applied to this layer's output: its own attribute or the next node."""
    act = node.attrs.get("activation")
    if isinstance(act, str) and act and act != "linear":
        return act
    nxt = succ.get(node.id, [])
    if len(nxt) == 1:
        follower = graph.nodes[nxt[0]]
        if follower.kind == "activation":
            return follower.op
    return ""


def main_path(graph: Graph, counts: Callable[[Node], bool]) -> list[str]:
    """Node ids of the data path through the most counted layers, input to output.

    Paper figures draw one chain: a ResNet's projection shortcut or an auxiliary head would
    otherwise be drawn in line with the main path as if data flowed through them in turn.
    Ties go to the earlier node in topological order, so the choice is deterministic.
    """
    order = graph.topological_order()
    pred = graph.predecessors()
    score: dict[str, int] = {}
    back: dict[str, str | None] = {}
    for nid in order:
        best, best_p = 0, None
        for p in pred[nid]:
            if p in score and score[p] > best:
                best, best_p = score[p], p
        score[nid] = best + (1 if counts(graph.nodes[nid]) else 0)
        back[nid] = best_p
    if not order:
        return []
    outputs = [n for n in order if graph.nodes[n].op == "Output"] or order
    end = max(outputs, key=lambda n: (score[n], -order.index(n)))
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = back[cur]
    return path[::-1]


def neuron_columns(graph: Graph) -> list[dict[str, Any]]:
    """The layers drawn as columns, in data-flow order along the main path."""
    succ = graph.successors()
    cols = []

    def counts(node: Node) -> bool:
        return node.kind in WIDTH_KINDS or (node.kind == "io" and node.op == "Input")

    path = [graph.nodes[nid] for nid in main_path(graph, counts) if counts(graph.nodes[nid])]
    names = dict(zip((n.id for n in path), display_names(path)))
    for node in path:
        nid = node.id
        if node.kind == "io" and node.op == "Input":
            title = "Input"
        elif node.kind in WIDTH_KINDS:
            title = node.op
        else:
            continue
        act = _activation(graph, node, succ)
        cols.append({"id": nid, "kind": node.kind, "title": title + (f" + {act}" if act else ""),
                     "name": names[nid],
                     "units": _units(graph, node)})
    return cols


def layout_neurons(graph: Graph, theme: Theme, direction: str = "LR") -> Layout:
    """Columns of circles left to right (``LR``/``RL``) or rows top to bottom (``TB``/``BT``)."""
    cfg = paper_settings(theme, "neurons")
    cols = neuron_columns(graph)
    if len(cols) < 2:
        raise NnvizError(
            f"the neurons style needs at least two layers with a width (inputs, dense/linear, "
            f"conv or recurrent layers); '{graph.name}' has {len(cols)}; use --style graph")
    r, gap = float(cfg["radius"]), float(cfg["unit_gap"])
    cap = max(3, int(cfg["max_units"]))
    pitch = 2 * r + gap
    size_t, size_d = float(theme["font"]["title_size"]), float(theme["font"]["size"])
    margin = float(theme["spacing"]["margin"])
    horizontal = direction in ("LR", "RL")

    # Per column: which slots hold circles and which the ellipsis (cross-axis offsets).
    for col in cols:
        n = col["units"]
        if n is not None and n <= cap:
            shown, ell = n, None
        else:
            head = cap // 2
            shown = cap - 1
            ell = head  # slot index of the ellipsis; circles before and after it
        slots = shown + (1 if ell is not None else 0)
        col["slots"], col["ellipsis_slot"], col["shown"] = slots, ell, shown
        units = "? units" if n is None else f"{human_count(n) if n >= 10000 else n} units"
        lines = [LabelLine(truncate(col["title"], size_t, LABEL_MAX, True), "title")]
        if col["name"]:
            lines.append(LabelLine(truncate_left(col["name"], size_d, LABEL_MAX), "name"))
        lines.append(LabelLine(units, "detail"))
        col["lines"] = lines
        col["label_w"] = max(text_width(ln.text, size_t if ln.style == "title" else size_d,
                                        ln.style == "title") for ln in lines)
    label_h = max(label_height(c["lines"], theme) for c in cols)
    span = max(c["slots"] for c in cols) * pitch - gap  # cross-axis extent of the tallest

    # Main-axis positions: the layer gap, widened where neighbouring labels would collide.
    main = [0.0]
    for a, b in zip(cols, cols[1:]):
        need = float(cfg["layer_gap"])
        if horizontal:
            need = max(need, (a["label_w"] + b["label_w"]) / 2 + 16)
        main.append(main[-1] + need)
    if direction in ("RL", "BT"):
        main = [main[-1] - m for m in main]
    # Labels sit below the columns (LR) or right of the rows (TB).
    if horizontal:
        lead = max(r, max(c["label_w"] for c in cols) / 2)
    else:
        lead = max(r, label_h / 2)
    extras_cols = []
    nodes: dict[str, NodeBox] = {}
    for col, m in zip(cols, main):
        extent = col["slots"] * pitch - gap
        start = (span - extent) / 2 + r  # centre each column on the cross axis
        centers, dots = [], []
        for s in range(col["slots"]):
            c = start + s * pitch
            if s == col["ellipsis_slot"]:
                for k in (-1, 0, 1):
                    dots.append(c + k * r * 0.7)
            else:
                centers.append(c)

        def pt(main_v: float, cross_v: float) -> tuple[float, float]:
            if horizontal:
                return round(margin + lead + main_v, 2), round(margin + cross_v, 2)
            return round(margin + cross_v, 2), round(margin + lead + main_v, 2)

        cpts = [pt(m, c) for c in centers]
        dpts = [pt(m, d) for d in dots]
        if horizontal:
            bx, by = cpts[0][0] - r, margin + start - r
            bw, bh = 2 * r, extent
            label_pos = (cpts[0][0], margin + span + LABEL_GAP)
            anchor = "middle"
        else:
            bx, by = margin + start - r, cpts[0][1] - r
            bw, bh = extent, 2 * r
            label_pos = (margin + span + LABEL_GAP, cpts[0][1] - label_h / 2)
            anchor = "start"
        nodes[col["id"]] = NodeBox(col["id"], round(bx, 2), round(by, 2), round(bw, 2),
                                   round(bh, 2), col["lines"], shape="neurons")
        extras_cols.append({
            "id": col["id"], "kind": col["kind"], "units": col["units"],
            "shown": col["shown"], "centers": [list(p) for p in cpts],
            "ellipsis": [list(p) for p in dpts],
            "label": {"x": round(label_pos[0], 2), "y": round(label_pos[1], 2),
                      "anchor": anchor},
        })
    max_label_w = max(c["label_w"] for c in cols)
    if horizontal:
        width = 2 * margin + 2 * lead + (max(main) - min(main))
        height = 2 * margin + span + LABEL_GAP + label_h
    else:
        width = 2 * margin + span + LABEL_GAP + max_label_w
        height = 2 * margin + 2 * lead + (max(main) - min(main))
    extras = {"radius": r, "columns": extras_cols,
              "connections": [[i, i + 1] for i in range(len(cols) - 1)]}
    return Layout(width=round(width, 2), height=round(height, 2), nodes=nodes, edges=[],
                  direction=direction, engine="neurons", style="neurons", extras=extras)
