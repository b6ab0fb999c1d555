"""nnviz's own layered (Sugiyama-style) layout engine."""

from nnviz.layout.layered.engine import layout_layered

__all__ = ["layout_layered"]
