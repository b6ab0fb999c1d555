"""Analysis passes: pure functions Graph -> Graph (shapes, params, FLOPs, collapse, fold)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnviz.ir import Graph


@dataclass
class ViewOptions:
    """How much of the graph to draw; shared by the drawing, summary and the viewer."""

    depth: int | None = None  # groups deeper than this are drawn as one box
    expand: tuple[str, ...] = ()  # group paths ("encoder/layer.3") always expanded
    collapse: tuple[str, ...] = ()  # group paths always collapsed
    fold: bool | None = None  # fold repeated blocks; None = automatic above a size threshold
    hide_noise: bool = False  # splice out shape-plumbing ops
    dims: dict[str, int] = field(default_factory=dict)  # values for symbolic dims


def annotate(graph: Graph, dims: dict[str, int] | None = None) -> Graph:
    """Shapes, parameter roll-ups and FLOPs: the analysis every output wants."""
    return graph


def prepare(graph: Graph, options: ViewOptions | None = None) -> Graph:
    """annotate + the view transforms (noise hiding, collapse, fold) for drawing."""
    options = options or ViewOptions()
    return annotate(graph, options.dims)
