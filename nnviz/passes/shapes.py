"""Shape propagation where loaders left output shapes unknown.

Never guesses: an output shape is filled only when the op's rule is known and every input
dimension it needs is known; otherwise it stays None (or a dim stays None / symbolic).
The per-op rules are :mod:`nnviz.shape_rules` (neutral: the TorchScript reader uses them too).
"""

from __future__ import annotations

from nnviz.ir import Graph
from nnviz.passes.util import copy_graph, topological_order
from nnviz.shape_rules import broadcast, matmul_shape, output_shapes

__all__ = ["infer_shapes", "infer_shapes_inplace", "output_shapes", "broadcast", "matmul_shape"]


def infer_shapes(graph: Graph) -> Graph:
    """A copy of ``graph`` with unknown output shapes filled where the op's rule is known."""
    return infer_shapes_inplace(copy_graph(graph))


def infer_shapes_inplace(g: Graph, order: list[str] | None = None) -> Graph:
    """infer_shapes on a graph the caller owns (annotate copies once for all passes);
    ``order``: ``topological_order(g)`` when the caller has it already."""
    nodes, tensors = g.nodes, g.tensors
    for nid in order if order is not None else topological_order(g):
        node = nodes[nid]
        for t in node.outputs:
            tensor = tensors.get(t)
            if tensor is None or tensor.shape is None:
                break
        else:
            continue  # every output known already
        ins = [t.shape if (t := tensors.get(tid)) is not None else None for tid in node.inputs]
        try:
            outs = output_shapes(g, node, ins)
        except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError):
            outs = ()  # malformed attributes: leave unknown rather than fail the drawing
        for i, t in enumerate(node.outputs):
            if i >= len(outs) or outs[i] is None:
                continue
            tensor = g.tensors.get(t)
            if tensor is None:
                from nnviz.ir import Tensor

                tensor = g.add_tensor(Tensor(t))
            if tensor.shape is None:
                tensor.shape = tuple(outs[i])
                if tensor.dtype is None and node.inputs and node.inputs[0] in g.tensors:
                    tensor.dtype = g.tensors[node.inputs[0]].dtype
    return g
