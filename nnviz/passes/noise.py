"""Hide noise: splice out shape-plumbing ops so an ONNX export looks like the model.

Two kinds of nodes go:

- plumbing ops on the data path (Reshape, Transpose, Cast, Unsqueeze, Squeeze, Identity,
  Expand, contiguous ...): their consumers are reconnected to the op's data input;
- shape arithmetic: Shape/Size/Constant/ConstantOfShape and every op fed only by such
  values (Gather of a shape, Concat of dims, Range ...): removed, and the edges they fed are
  dropped (those inputs are metadata, not activations).
"""

from __future__ import annotations

from nnviz.ir import Graph
from nnviz.passes.util import copy_graph, opname, topological_order

PLUMBING = {
    "reshape", "transpose", "permute", "cast", "unsqueeze", "squeeze", "identity", "expand",
    "expandas", "view", "viewas", "reshapeas", "unsafeview", "contiguous", "clone", "detach",
    "to", "alias", "t", "liftfreshcopy", "castlike", "typeas", "flattenas", "assertasync",
}
SHAPE_SOURCES = {"shape", "size", "symsize", "constant", "constantofshape", "range", "arange",
                 "zeros", "ones", "full", "empty", "newzeros"}
# Kinds of ops that, fed only by shape values or constants, are shape arithmetic.
LIGHT_KINDS = {"elementwise", "reshape", "constant", "other", "embedding", "reduce",
               "activation"}
SMALL_CONSTANT = 64  # elements: a folded constant operand, not a weight
# Ops that may be computed purely from shape values and so are part of the plumbing.
SHAPE_ARITH = {"gather", "concat", "cat", "slice", "add", "sub", "mul", "div", "floordiv",
               "equal", "where", "cast", "unsqueeze", "squeeze", "reshape", "expand", "range",
               "constantofshape", "reducemax", "reducemin", "reduceprod", "min", "max", "not",
               "less", "greater", "mod", "neg", "abs", "ceil", "floor", "identity", "tile",
               "getitem", "sqrt", "pow"}


def hide_noise(graph: Graph) -> Graph:
    """A copy of ``graph`` without shape plumbing; edges through it are spliced."""
    g = copy_graph(graph)
    order = topological_order(g)
    shape_only: set[str] = set()  # tensors that carry shape values, not activations
    replace: dict[str, str | None] = {}  # removed tensor -> tensor that stands for it (or None)
    removed: set[str] = set()

    def resolve(t: str) -> str | None:
        seen = 0
        while t in replace and seen < 10_000:
            nxt = replace[t]
            if nxt is None:
                return None
            t = nxt
            seen += 1
        return t

    for nid in order:
        node = g.nodes[nid]
        if node.kind == "io":
            continue
        op = opname(node.op)
        data_inputs = [t for t in node.inputs if t not in shape_only]
        # Light ops fed only by shape values (or by constants the loader folded into attrs)
        # compute shapes and scale factors, not activations: Gather(Shape), Div(Sqrt(..)) ...
        small = sum(p.count or 0 for p in node.params) <= SMALL_CONSTANT
        light = (node.kind in LIGHT_KINDS or op in SHAPE_ARITH) and small
        if node.kind == "constant" or op in SHAPE_SOURCES or (light and not data_inputs):
            removed.add(nid)
            for t in node.outputs:
                shape_only.add(t)
                replace[t] = None
            continue
        if op in PLUMBING and data_inputs:
            src = resolve(data_inputs[0])
            removed.add(nid)
            for t in node.outputs:
                replace[t] = src
            continue
    if not removed:
        return g
    for nid, node in g.nodes.items():
        if nid in removed:
            continue
        new_inputs: list[str] = []
        for t in node.inputs:
            r = resolve(t)
            if r is not None and r not in new_inputs:
                new_inputs.append(r)
        node.inputs = new_inputs
    g.outputs = [r for r in (resolve(t) for t in g.outputs) if r is not None]
    g.nodes = {nid: n for nid, n in g.nodes.items() if nid not in removed}
    used = set(g.inputs) | set(g.outputs)
    for node in g.nodes.values():
        used.update(node.inputs)
        used.update(node.outputs)
    g.tensors = {tid: t for tid, t in g.tensors.items() if tid in used}
    g.meta["hidden_nodes"] = len(removed)
    return g
