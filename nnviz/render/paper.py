"""Paper styles (neurons, blocks): scene building from the style's Layout.extras."""

from __future__ import annotations

from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.render.scene import Scene
from nnviz.theme import Theme


def paper_scene(graph: Graph, layout: Layout, theme: Theme) -> Scene:
    raise NotImplementedError(layout.style)


def render_svg(graph: Graph, layout: Layout, theme: Theme, **options) -> str:
    from nnviz.render.svg import scene_to_svg

    return scene_to_svg(paper_scene(graph, layout, theme))
