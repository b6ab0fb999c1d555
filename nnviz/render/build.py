"""Which scene for which layout: the graph scene or a paper style's, plus the overlay legend.

Its own module so that nnviz.render.scene (the primitives) and nnviz.render.paper (which
draws with them) do not import each other.
"""

from __future__ import annotations

from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.render.scene import Scene, add_overlay_legend, graph_scene
from nnviz.theme import Theme


def build_scene(graph: Graph, layout: Layout, theme: Theme) -> Scene:
    """The scene for any layout style (paper styles live in nnviz.render.paper)."""
    if layout.style != "graph":
        from nnviz.render.paper import paper_scene  # imported only for the paper styles

        scene = paper_scene(graph, layout, theme)
    else:
        scene = graph_scene(graph, layout, theme)
    if graph.meta.get("overlay"):
        add_overlay_legend(scene, graph.meta["overlay"], theme)
    return scene
