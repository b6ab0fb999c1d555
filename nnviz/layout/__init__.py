"""Layout engines: Graph (+ theme, options) -> Layout."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from nnviz.errors import NnvizError
from nnviz.ir import Graph
from nnviz.layout.model import EdgePath, GroupFrame, LabelLine, Layout, NodeBox
from nnviz.theme import Theme, load_theme
from nnviz.util import paused_gc

# The tables the CLI choices, the API checks and the tests read. Each value is the
# "module:function" that does the work, (graph, theme, direction=) -> Layout, imported when used.
# Adding an engine or a paper style: one new module, one line here.
ENGINES: dict[str, str] = {
    "layered": "nnviz.layout.layered:layout_layered",
    "dot": "nnviz.layout.dot:layout_dot",
}
STYLES: dict[str, str | None] = {
    "graph": None,  # a graph drawing by the chosen engine
    "blocks": "nnviz.layout.blocks:layout_blocks",
    "neurons": "nnviz.layout.neurons:layout_neurons",
}
DIRECTIONS = ("TB", "LR", "BT", "RL")


def _resolve(ref: str) -> Callable[..., Layout]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def layout(graph: Graph, engine: str = "layered", direction: str | None = None,
           theme: Theme | str | None = None, style: str = "graph",
           proportions: str | None = None, rows: int | None = None) -> Layout:
    """Place the nodes of ``graph``. ``style`` picks a paper style instead of a graph drawing;
    ``proportions`` (auto, linear, sqrt, log) scales the paper styles' sizes (theme default: auto);
    ``rows`` wraps a left-to-right paper figure into at most that many rows."""
    if not isinstance(theme, Theme):
        theme = load_theme(theme)
    # Graphs read top to bottom; the paper styles (like NN-SVG and PlotNeuralNet) left to right.
    direction = (direction or ("TB" if style == "graph" else "LR")).upper()
    if direction not in DIRECTIONS:
        raise NnvizError(f"unknown direction '{direction}'; use one of {', '.join(DIRECTIONS)}")
    if style not in STYLES:
        raise NnvizError(f"unknown style '{style}'; use one of {', '.join(STYLES)}")
    paper = STYLES[style]
    if paper is not None:
        return _resolve(paper)(graph, theme, direction=direction, proportions=proportions,
                               rows=rows)
    if engine not in ENGINES:
        raise NnvizError(f"unknown layout engine '{engine}'; use one of {', '.join(ENGINES)}")
    # ~1M small objects on a 50k-node graph: the cyclic GC rescanned them over and over
    # (half of the layout time); the engines make no cycles worth collecting early. The
    # Layout lives on (promote): its ~500k objects join the oldest generation unscanned
    # instead of being scanned by the next young collection (0.2 s at 50k nodes).
    with paused_gc(promote=True):
        return _resolve(ENGINES[engine])(graph, theme, direction=direction)


__all__ = ["layout", "Layout", "NodeBox", "EdgePath", "GroupFrame", "LabelLine", "ENGINES",
           "STYLES", "DIRECTIONS"]
