"""Phase 0 of the compound layout: box sizes from the label lines (shipped font metrics).

Output: per item key ``("n", node_id)`` / ``("s", src, dst)`` its fitted label lines and its
final (w, h); widths are rounded up to a grid so repeated blocks get equal boxes.
"""

from __future__ import annotations

import math

from nnviz.ir import Graph
from nnviz.layout.labels import LabelMemo, LineFitter, label_texts
from nnviz.layout.model import LabelLine
from nnviz.text import line_height, text_width, truncate
from nnviz.theme import Theme

WIDTH_GRID = 8.0  # px

Key = tuple  # ("n", node_id) | ("g", path) | ("s", src_id, dst_id)


def measure_nodes(graph: Graph, theme: Theme
                  ) -> tuple[dict[Key, list[LabelLine]], dict[Key, tuple[float, float]]]:
    """(fitted lines, (w, h)) of every node's box."""
    # Measuring text dominates at 50k nodes and most lines repeat (shapes, op names), so
    # widths are memoised per line; the height depends only on the line styles.
    lines: dict[Key, list[LabelLine]] = {}
    size: dict[Key, tuple[float, float]] = {}  # final (w, h)
    fit = LineFitter(theme).fit_texts
    memo = LabelMemo()  # shapes and counts repeat too: their texts are made once
    ceil = math.ceil
    for nid, node in graph.nodes.items():
        fitted, w, h = fit(label_texts(graph, node, memo))
        key = ("n", nid)
        lines[key] = fitted
        # widths rounded up to a grid: the 48 copies of a block whose names differ by a
        # digit ("h.9" / "h.10") get equal boxes, hence one shared sub-layout
        size[key] = (ceil(w / WIDTH_GRID - 1e-9) * WIDTH_GRID, h)
    return lines, size


def measure_stubs(graph: Graph, stub_of: dict[Key, str], theme: Theme,
                  lines: dict[Key, list[LabelLine]], size: dict[Key, tuple[float, float]]
                  ) -> None:
    """Stub boxes: a pill with the source's name (added to ``lines`` and ``size``)."""
    detail = float(theme["font"]["size"])
    for skey, src in stub_of.items():
        node = graph.nodes[src]
        text = truncate(node.name or node.op, detail, 140.0)
        w = max(40.0, round(text_width(text, detail) + 16, 2))
        h = round(line_height(detail) + 8, 2)
        size[skey] = (w, h)
        lines[skey] = [LabelLine(text, "detail")]
