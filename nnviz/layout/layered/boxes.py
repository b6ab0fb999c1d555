"""Phase 0 of the compound layout: box sizes from the label lines (shipped font metrics).

Output: per item key ``("n", node_id)`` / ``("s", src, dst)`` its fitted label lines and its
final (w, h); widths are rounded up to a grid so repeated blocks get equal boxes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import repeat

from nnviz.ir import Graph
from nnviz.layout.labels import box_size, fit_lines, font_size, node_lines
from nnviz.layout.model import LabelLine
from nnviz.text import line_height, text_width, truncate
from nnviz.text import metrics as text_metrics
from nnviz.theme import Theme

WIDTH_GRID = 8.0  # px

Key = tuple  # ("n", node_id) | ("g", path) | ("s", src_id, dst_id)


def _line_measurer(theme: Theme) -> Callable[[LabelLine], tuple[LabelLine, float]]:
    """(fitted line, box width for it alone), equal to labels.fit_lines + box_size.

    The same arithmetic as text.text_width (sum of advance units * size / units-per-em) with
    a per-character table, about 3x faster on 50k unique names; lines too wide for a box go
    through labels.fit_lines itself.
    """
    metrics = text_metrics()
    faces = {}
    for bold in (False, True):
        face = metrics["bold" if bold else "regular"]
        faces[bold] = ({chr(k): v for k, v in face["widths"].items()}, face["default"],
                       face["units_per_em"])
    node_t = theme["node"]
    max_text = node_t["max_width"] - 2 * node_t["padding_x"]
    min_w, pad_x = node_t["min_width"], 2 * node_t["padding_x"]

    def measure(ln: LabelLine) -> tuple[LabelLine, float]:
        bold = ln.style == "title"
        cw, default, upem = faces[bold]
        width = sum(map(cw.get, ln.text, repeat(default))) * font_size(theme, ln.style) / upem
        if width > max_text:
            fitted = fit_lines([ln], theme)[0]
            return fitted, box_size([fitted], theme)[0]
        return ln, round(max(min_w, width + pad_x), 2)

    return measure


def measure_nodes(graph: Graph, theme: Theme
                  ) -> tuple[dict[Key, list[LabelLine]], dict[Key, tuple[float, float]]]:
    """(fitted lines, (w, h)) of every node's box."""
    # Measuring text dominates at 50k nodes and most lines repeat (shapes, op names), so
    # widths are memoised per line; the height depends only on the line styles.
    lines: dict[Key, list[LabelLine]] = {}
    size: dict[Key, tuple[float, float]] = {}  # final (w, h)
    measure = _line_measurer(theme)
    line_memo: dict[tuple[str, str], tuple[LabelLine, float]] = {}
    height_memo: dict[tuple[str, ...], float] = {}
    for nid, node in graph.nodes.items():
        fitted = []
        w = 0.0
        for ln in node_lines(graph, node):
            hit = line_memo.get((ln.text, ln.style))
            if hit is None:
                hit = line_memo[(ln.text, ln.style)] = measure(ln)
            fitted.append(hit[0])
            w = max(w, hit[1])
        styles = tuple(ln.style for ln in fitted)
        h = height_memo.get(styles)
        if h is None:
            h = height_memo[styles] = box_size(fitted, theme)[1]
        lines[("n", nid)] = fitted
        # widths rounded up to a grid: the 48 copies of a block whose names differ by a
        # digit ("h.9" / "h.10") get equal boxes, hence one shared sub-layout
        size[("n", nid)] = (math.ceil(w / WIDTH_GRID - 1e-9) * WIDTH_GRID, h)
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
