"""The ``blocks`` paper style (LeNet/AlexNet figures, PlotNeuralNet look): 3-D boxes.

Every layer that changes the representation (inputs, conv, pool, dense, recurrent, attention,
embedding, collapsed groups) becomes a box sized by its output tensor: height ~ spatial
height, depth (drawn obliquely) ~ spatial width, thickness along the flow ~ channels, all on
log scales so a 224-pixel input and a 7-pixel feature map both stay readable. Activations,
norms and plumbing ride along with the box before them. The boxes are centred on one line
and flow left to right; labels (op, name, shape) share one row under them.
"""

from __future__ import annotations

import math
from typing import Any

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node
from nnviz.layout.labels import overlay_lines
from nnviz.layout.model import EdgePath, LabelLine, Layout, NodeBox
from nnviz.layout.neurons import (
    display_names,
    label_height,
    main_path,
    paper_settings,
    truncate_left,
)
from nnviz.text import text_width, truncate
from nnviz.theme import Theme

BLOCK_KINDS = ("io", "conv", "pool", "linear", "recurrent", "attention", "embedding", "group",
               "reduce")
LABEL_MAX = 180.0  # px: longer titles are shortened with an ellipsis
NAME_MAX = 130.0  # px: names are shortened from the left, keeping the informative end
LABEL_GAP = 10.0  # px between the lowest box and the label row
MIN_ARROW = 16.0  # px: shortest arrow between two boxes


Dim = int | str | None


def _dims(graph: Graph, node: Node) -> tuple[str, Dim, Dim, Dim]:
    """(what, channels, height, width) of the node's output, batch dim dropped.

    ``what`` is "map" for feature maps (C, H, W), "seq" for sequences (C, L), "vector" for
    flat features, or "unknown".
    """
    from nnviz.passes.util import is_channels_last

    tid = node.outputs[0] if node.outputs else (node.inputs[0] if node.inputs else None)
    tensor = graph.tensors.get(tid) if tid else None
    shape = tensor.shape if tensor is not None else None
    if not shape:
        return "unknown", None, None, None
    # Symbolic dims ("seq") stay as names for the label; sizes treat them as medium.
    dims: list[Dim] = [d if (isinstance(d, int) and d > 0) or (isinstance(d, str) and d)
                       else None for d in shape]
    rest = dims[1:] if len(dims) > 1 else dims
    channels_last = is_channels_last(graph, node)
    if node.kind == "io" and len(rest) == 3 and isinstance(rest[0], int) \
            and isinstance(rest[2], int):
        # An input image: the small dim is the channel axis (3 for RGB), whatever the format.
        channels_last = rest[2] < rest[0]
    if len(rest) >= 3:
        if channels_last:
            h, w, c = rest[-3], rest[-2], rest[-1]
        else:
            c, h, w = rest[0], rest[-2], rest[-1]
        return "map", c, h, w
    if len(rest) == 2:
        if node.kind == "conv" or (node.kind == "pool" and not channels_last):
            c, length = (rest[1], rest[0]) if channels_last else (rest[0], rest[1])
            return "seq", c, length, 1
        return "seq", rest[-1], rest[0], 1  # a sequence: length x features
    return "vector", rest[0], None, None


def _fmt(*dims: int | str | None) -> str:
    return "\u00d7".join("?" if d is None else str(d) for d in dims)


def _is_block(node: Node) -> bool:
    # the output is the last box already
    return node.kind in BLOCK_KINDS and not (node.kind == "io" and node.op != "Input")


def block_nodes(graph: Graph) -> list[Node]:
    """The layers drawn as boxes, in data-flow order along the main path."""
    return [graph.nodes[nid] for nid in main_path(graph, _is_block)
            if _is_block(graph.nodes[nid])]


SYMBOLIC_SIZE = 16  # how big an unknown or symbolic dim is drawn


def _scale(base: float, k: float, d: Dim, cap: float) -> float:
    n = d if isinstance(d, int) else SYMBOLIC_SIZE
    return min(cap, base + k * math.log2(max(n, 1)))


def layout_blocks(graph: Graph, theme: Theme, direction: str = "LR") -> Layout:
    """Boxes left to right (``direction`` is accepted for API symmetry; 3-D blocks read
    left to right, as in the papers this style imitates)."""
    cfg = paper_settings(theme, "blocks")
    nodes = block_nodes(graph)
    if not nodes:
        raise NnvizError(f"the blocks style found no layers to draw in '{graph.name}'; "
                         "use --style graph")
    size_t, size_d = float(theme["font"]["title_size"]), float(theme["font"]["size"])
    margin = float(theme["spacing"]["margin"])
    ratio = float(cfg["depth_ratio"])
    cap = float(cfg["max_height"])
    blocks: list[dict[str, Any]] = []
    for node, name in zip(nodes, display_names(nodes)):
        what, c, hh, ww = _dims(graph, node)
        if what in ("map", "seq"):
            h = _scale(cfg["spatial_base"], cfg["spatial_scale"], hh, cap)
            depth = _scale(cfg["spatial_base"], cfg["spatial_scale"], ww, cap)
            w = _scale(cfg["channel_base"], cfg["channel_scale"], c, cap / 2)
            shape_text = _fmt(c, hh, ww) if what == "map" else _fmt(c, hh)
        elif what == "vector":
            h = _scale(cfg["spatial_base"], cfg["spatial_scale"] * 0.9, c, cap)
            depth = float(cfg["vector_width"])
            w = float(cfg["vector_width"])
            shape_text = _fmt(c)
        else:
            h = depth = w = 24.0
            shape_text = "?"
        title = "Input" if node.kind == "io" else node.op
        if node.meta.get("repeat"):
            title += f" \u00d7{node.meta['repeat']}"
        lines = [LabelLine(truncate(title, size_t, LABEL_MAX, True), "title")]
        if name:
            lines.append(LabelLine(truncate_left(name, size_d, NAME_MAX), "name"))
        lines.append(LabelLine(shape_text, "detail"))
        lines.extend(overlay_lines(node))
        label_w = max(text_width(ln.text, size_t if ln.style == "title" else size_d,
                                 ln.style == "title") for ln in lines)
        dx, dy = depth * ratio, -depth * ratio * 0.8  # oblique projection, up and right
        blocks.append({"node": node, "w": w, "h": h, "dx": dx, "dy": dy, "lines": lines,
                       "label_w": label_w})

    # x: each box after the previous one's back face plus an arrow, and far enough that the
    # label row does not collide (labels are centred under the whole 3-D box).
    x = margin + max(0.0, (blocks[0]["label_w"] - blocks[0]["w"] - blocks[0]["dx"]) / 2)
    for i, b in enumerate(blocks):
        if i:
            p = blocks[i - 1]
            x = max(p["x"] + p["w"] + p["dx"] + max(MIN_ARROW, float(cfg["gap"])),
                    p["cx"] + (p["label_w"] + b["label_w"]) / 2 + 14 - (b["w"] + b["dx"]) / 2)
        b["x"] = x
        b["cx"] = x + (b["w"] + b["dx"]) / 2
    top_extent = max(b["h"] / 2 - b["dy"] for b in blocks)  # above the centre line
    bottom_extent = max(b["h"] / 2 for b in blocks)
    cy = margin + top_extent
    label_top = cy + bottom_extent + LABEL_GAP
    label_h = max(label_height(b["lines"], theme) for b in blocks)

    boxes: dict[str, NodeBox] = {}
    extras_blocks = []
    edges: list[EdgePath] = []
    for i, b in enumerate(blocks):
        node = b["node"]
        y = cy - b["h"] / 2
        boxes[node.id] = NodeBox(node.id, round(b["x"], 2), round(y + b["dy"], 2),
                                 round(b["w"] + b["dx"], 2), round(b["h"] - b["dy"], 2),
                                 b["lines"], shape="block")
        extras_blocks.append({
            "id": node.id, "kind": node.kind, "x": round(b["x"], 2), "y": round(y, 2),
            "w": round(b["w"], 2), "h": round(b["h"], 2), "dx": round(b["dx"], 2),
            "dy": round(b["dy"], 2), "label_x": round(b["cx"], 2),
        })
        if i:
            p = blocks[i - 1]
            x0 = p["x"] + p["w"] + p["dx"]
            edges.append(EdgePath(p["node"].id, node.id, (p["node"].outputs or [""])[0],
                                  [(round(x0 + 2, 2), round(cy, 2)),
                                   (round(b["x"] - 1, 2), round(cy, 2))]))
    last = blocks[-1]
    width = max(last["x"] + last["w"] + last["dx"], last["cx"] + last["label_w"] / 2) + margin
    height = label_top + label_h + margin
    extras = {"blocks": extras_blocks, "label_top": round(label_top, 2), "center_y": round(cy, 2)}
    return Layout(width=round(width, 2), height=round(height, 2), nodes=boxes, edges=edges,
                  direction="LR", engine="blocks", style="blocks", extras=extras)
