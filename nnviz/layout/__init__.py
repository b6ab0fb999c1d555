"""Layout engines: Graph (+ theme, options) -> Layout."""

from __future__ import annotations

from nnviz.errors import NnvizError
from nnviz.ir import Graph
from nnviz.layout.model import EdgePath, GroupFrame, LabelLine, Layout, NodeBox
from nnviz.theme import Theme, load_theme

ENGINES = ("layered", "dot")
STYLES = ("graph", "blocks", "neurons")
DIRECTIONS = ("TB", "LR", "BT", "RL")


def layout(graph: Graph, engine: str = "layered", direction: str = "TB",
           theme: Theme | str | None = None, style: str = "graph") -> Layout:
    """Place the nodes of ``graph``. ``style`` picks a paper style instead of a graph drawing."""
    if not isinstance(theme, Theme):
        theme = load_theme(theme)
    direction = direction.upper()
    if direction not in DIRECTIONS:
        raise NnvizError(f"unknown direction '{direction}'; use one of {', '.join(DIRECTIONS)}")
    if style == "blocks":
        from nnviz.layout.blocks import layout_blocks

        return layout_blocks(graph, theme, direction=direction)
    if style == "neurons":
        from nnviz.layout.neurons import layout_neurons

        return layout_neurons(graph, theme, direction=direction)
    if style != "graph":
        raise NnvizError(f"unknown style '{style}'; use one of {', '.join(STYLES)}")
    if engine == "layered":
        from nnviz.layout.layered import layout_layered
        from nnviz.passes.util import paused_gc

        # ~1M small objects on a 50k-node graph: the cyclic GC rescanned them over and over
        # (half of the layout time); the engine makes no cycles worth collecting early.
        with paused_gc():
            return layout_layered(graph, theme, direction=direction)
    if engine == "dot":
        from nnviz.layout.dot import layout_dot

        return layout_dot(graph, theme, direction=direction)
    raise NnvizError(f"unknown layout engine '{engine}'; use one of {', '.join(ENGINES)}")


__all__ = ["layout", "Layout", "NodeBox", "EdgePath", "GroupFrame", "LabelLine", "ENGINES",
           "STYLES", "DIRECTIONS"]
