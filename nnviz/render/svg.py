"""SVG: the reference renderer. Text uses the shipped DejaVu Sans, matching layout metrics."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from nnviz.ir import Graph
from nnviz.layout.labels import font_size
from nnviz.layout.model import EdgePath, Layout
from nnviz.text import FONT_FAMILY, ascent, line_height
from nnviz.theme import Theme


def _f(v: float) -> str:
    """Compact, deterministic number formatting."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _path_d(edge: EdgePath) -> str:
    pts = edge.points
    if edge.spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
        d = [f"M{_f(pts[0][0])},{_f(pts[0][1])}"]
        for i in range(1, len(pts), 3):
            (a, b), (c, e), (g, h) = pts[i], pts[i + 1], pts[i + 2]
            d.append(f"C{_f(a)},{_f(b)} {_f(c)},{_f(e)} {_f(g)},{_f(h)}")
        return " ".join(d)
    return "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in pts)


def render(graph: Graph, layout: Layout, theme: Theme, **options) -> str:
    if layout.style != "graph":
        from nnviz.render import paper

        return paper.render_svg(graph, layout, theme, **options)
    return render_graph_svg(graph, layout, theme)


def render_graph_svg(graph: Graph, layout: Layout, theme: Theme) -> str:
    font = theme["font"]
    edge_t = theme["edge"]
    node_t = theme["node"]
    group_t = theme["group"]
    out: list[str] = []
    w, h = _f(layout.width), _f(layout.height)
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family={quoteattr(FONT_FAMILY + ", sans-serif")}>'
    )
    out.append(f"<title>{escape(graph.name)}</title>")
    a = edge_t["arrow_size"]
    out.append(
        "<defs>"
        f'<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="{_f(a)}" '
        f'markerHeight="{_f(a)}" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{edge_t["stroke"]}"/></marker>'
        "</defs>"
    )
    out.append(f'<rect width="100%" height="100%" fill="{theme["background"]}"/>')

    out.append('<g class="groups">')
    for fr in sorted(layout.groups, key=lambda g: len(g.path)):
        out.append(
            f'<g class="group" data-path={quoteattr("/".join(fr.path))}>'
            f'<rect x="{_f(fr.x)}" y="{_f(fr.y)}" width="{_f(fr.w)}" height="{_f(fr.h)}" '
            f'rx="{_f(group_t["radius"])}" fill="{group_t["fill"]}" stroke="{group_t["stroke"]}" '
            f'stroke-width="{_f(group_t["stroke_width"])}"/>'
            f'<text x="{_f(fr.x + 8)}" y="{_f(fr.y + ascent(group_t["label_size"]) + 4)}" '
            f'font-size="{_f(group_t["label_size"])}" fill="{group_t["label_color"]}">'
            f"{escape(fr.label)}</text></g>"
        )
    out.append("</g>")

    out.append(f'<g class="edges" fill="none" stroke="{edge_t["stroke"]}" '
               f'stroke-width="{_f(edge_t["width"])}">')
    for e in layout.edges:
        if len(e.points) < 2:
            continue
        out.append(f'<path class="edge" data-src={quoteattr(e.src)} data-dst={quoteattr(e.dst)} '
                   f'd="{_path_d(e)}" marker-end="url(#arrow)"/>')
    out.append("</g>")
    labelled = [e for e in layout.edges if e.label and len(e.points) >= 2]
    if labelled:
        size = edge_t["label_size"]
        out.append(f'<g class="edge-labels" font-size="{_f(size)}" fill="{edge_t["label_color"]}">')
        for e in labelled:
            (x0, y0), (x1, y1) = e.points[0], e.points[1]
            out.append(f'<text x="{_f((x0 + x1) / 2 + 4)}" y="{_f((y0 + y1) / 2)}">'
                       f"{escape(e.label)}</text>")
        out.append("</g>")

    out.append('<g class="nodes">')
    for box in layout.nodes.values():
        node = graph.nodes.get(box.id)
        kind = node.kind if node is not None else "group"
        style = theme.kind_style(kind)
        stroke = style.get("stroke", node_t["stroke"])
        text_color = style.get("text", font["color"])
        out.append(f'<g class="node" data-id={quoteattr(box.id)} data-kind="{escape(kind)}">')
        if box.shape == "stub":
            out.append(
                f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.w)}" height="{_f(box.h)}" '
                f'rx="{_f(box.h / 2)}" fill="{style["fill"]}" stroke="{stroke}" '
                f'stroke-dasharray="3,2" stroke-width="{_f(node_t["stroke_width"])}"/>'
            )
        else:
            out.append(
                f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.w)}" height="{_f(box.h)}" '
                f'rx="{_f(node_t["radius"])}" fill="{style["fill"]}" stroke="{stroke}" '
                f'stroke-width="{_f(node_t["stroke_width"])}"/>'
            )
        total_h = sum(line_height(font_size(theme, ln.style)) for ln in box.lines)
        total_h += node_t["line_gap"] * max(0, len(box.lines) - 1)
        y = box.y + (box.h - total_h) / 2
        for ln in box.lines:
            size = font_size(theme, ln.style)
            baseline = y + ascent(size)
            weight = ' font-weight="bold"' if ln.style == "title" else ""
            color = text_color if ln.style != "detail" else font.get("muted", text_color)
            out.append(
                f'<text x="{_f(box.cx)}" y="{_f(baseline)}" text-anchor="middle" '
                f'font-size="{_f(size)}"{weight} fill="{color}">{escape(ln.text)}</text>'
            )
            y += line_height(size) + node_t["line_gap"]
        out.append("</g>")
    out.append("</g>")
    out.append("</svg>\n")
    return "\n".join(out)
