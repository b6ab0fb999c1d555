"""DOT text for Graphviz. Written as text: no Graphviz binary is needed to write it."""

from __future__ import annotations

from nnviz.escape import quote, text_quote
from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.theme import Theme


def graph_to_dot(graph: Graph, theme: Theme, direction: str = "TB",
                 sizes: dict[str, tuple[float, float]] | None = None,
                 labels: dict[str, str] | None = None) -> str:
    """The graph as DOT. ``sizes`` (px) fixes node sizes, as the dot engine needs."""
    font = theme["font"]
    lines = [
        f"digraph {text_quote(graph.name)} {{",
        f"  graph [rankdir={direction}, fontname={quote(font['family'])}, "
        f"bgcolor={quote(theme['background'])}];",
        f"  node [shape=box, style=\"rounded,filled\", fontname={quote(font['family'])}, "
        f"fontsize={font['size']}];",
        f"  edge [color={quote(theme['edge']['stroke'])}];",
    ]
    for node in graph.nodes.values():
        style = theme.kind_style(node.kind)
        label = labels.get(node.id) if labels else None
        if label is None:
            label = node.op if not node.name or node.name == node.op else f"{node.op}\n{node.name}"
        fill, stroke = style["fill"], style.get("stroke", "#000000")
        ov = node.meta.get("overlay")
        extra = []
        if ov:  # `--overlay`: the value's tint; flagged boxes get a thick outline
            fill = ov["fill"]
            extra.append(f"fontcolor={quote(ov['color'])}")
            if ov.get("flags"):
                stroke = "#d1005f"
                extra.append("penwidth=3")
        attrs = [f"label={text_quote(label)}", f"fillcolor={quote(fill)}",
                 f"color={quote(stroke)}", *extra]
        if sizes and node.id in sizes:
            w, h = sizes[node.id]
            attrs += [f"width={w / 72:.4f}", f"height={h / 72:.4f}", "fixedsize=true"]
        lines.append(f"  {text_quote(node.id)} [{', '.join(attrs)}];")
    for e in graph.edges():
        lines.append(f"  {text_quote(e.src)} -> {text_quote(e.dst)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Graph, layout: Layout, theme: Theme, **options) -> str:
    from nnviz.layout.labels import format_label_text

    labels = {nid: format_label_text(box.lines) for nid, box in layout.nodes.items()}
    return graph_to_dot(graph, theme, direction=layout.direction, labels=labels)
