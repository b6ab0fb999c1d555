"""nnviz: draw neural network architectures from ONNX, Keras and PyTorch models."""

from nnviz.api import Drawing, draw
from nnviz.batch import BatchResult, draw_many
from nnviz.errors import ModelError, NnvizError
from nnviz.ir import Edge, Graph, Group, Node, Param, Tensor
from nnviz.kinds import KINDS
from nnviz.layout import layout
from nnviz.loaders import load
from nnviz.passes import ViewOptions, annotate, prepare
from nnviz.render import render
from nnviz.theme import load_theme

__version__ = "0.1.0"

__all__ = [
    "BatchResult", "Drawing", "Edge", "Graph", "Group", "KINDS", "ModelError", "Node",
    "NnvizError", "Param", "Tensor", "ViewOptions", "annotate", "draw", "draw_many", "layout",
    "load", "load_theme", "prepare", "render", "__version__",
]
