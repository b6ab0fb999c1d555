"""Passes never crash and keep the graph consistent on arbitrary (even malformed) IR graphs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.kinds import kind_for
from nnviz.loaders.canon_attrs import canonicalize
from nnviz.passes import ViewOptions, annotate, prepare

OPS = ["Conv", "Conv2D", "ConvTranspose", "Gemm", "MatMul", "Dense", "Linear", "Relu", "Add",
       "Mul", "Reshape", "Transpose", "Concat", "Flatten", "MaxPool", "GlobalAveragePool",
       "LayerNormalization", "BatchNormalization", "Softmax", "ReduceMean", "Squeeze",
       "Unsqueeze", "Gather", "Shape", "Constant", "MultiheadAttention", "LSTM", "Einsum",
       "aten.scaled_dot_product_attention.default", "Slice", "Cast", "Custom"]
DIM = st.one_of(st.integers(0, 9), st.sampled_from(["batch", "seq", None]))
SHAPE = st.one_of(st.none(), st.lists(DIM, min_size=0, max_size=5).map(tuple))
ATTR_VALUE = st.one_of(st.integers(-3, 5), st.lists(st.integers(-3, 5), max_size=6),
                       st.sampled_from(["same", "valid", "SAME_UPPER", "channels_last"]),
                       st.none(), st.booleans())
ATTRS = st.dictionaries(st.sampled_from(
    ["kernel_shape", "kernel_size", "strides", "stride", "pads", "padding", "axis", "axes",
     "perm", "shape", "dim", "keepdims", "group", "transB", "equation", "output_size",
     "pool_size", "filters", "start_dim", "batch_first", "auto_pad"]), ATTR_VALUE, max_size=4)


@st.composite
def graphs(draw) -> Graph:
    g = Graph("fuzz")
    n = draw(st.integers(1, 25))
    tensors = ["x"]
    g.add_tensor(Tensor("x", draw(SHAPE)))
    g.add_node(Node("in", "Input", "io", outputs=["x"]))
    g.inputs = ["x"]
    for i in range(n):
        op = draw(st.sampled_from(OPS))
        k = draw(st.integers(0, min(3, len(tensors))))
        ins = draw(st.lists(st.sampled_from(tensors), min_size=k, max_size=k))
        if draw(st.booleans()) and i > 2:
            ins.append(f"t{i + 1}")  # a cycle / forward reference: bad files happen
        out = f"t{i}"
        g.add_tensor(Tensor(out, draw(SHAPE) if draw(st.booleans()) else None))
        params = [Param(f"p{i}_{j}", draw(SHAPE)) for j in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()) and i:
            params.append(Param("p0_0", (3, 3)))  # shared weight
        depth = draw(st.integers(0, 3))
        group = tuple(draw(st.sampled_from(["a", "b", "layer.0", "layer.1"]))
                      for _ in range(depth))
        if group:
            g.ensure_group(group)
        g.add_node(Node(f"n{i}", op, kind_for(op), attrs=draw(ATTRS), inputs=ins,
                        outputs=[out], params=params, group=group))
        tensors.append(out)
    g.add_node(Node("out", "Output", "io", inputs=[tensors[-1]]))
    g.outputs = [tensors[-1]]
    return canonicalize(g)  # as a loader hands graphs to the passes


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.one_of(st.none(), st.integers(0, 3)), st.one_of(st.none(), st.booleans()),
       st.booleans(), st.lists(st.sampled_from(["a", "b", "a/layer.0", "layer.1"]), max_size=2),
       st.lists(st.sampled_from(["a", "b/a", "layer.0"]), max_size=2))
def test_prepare_never_crashes_and_stays_consistent(g, depth, fold, noise, expand, collapse):
    before = g.to_json()
    view = ViewOptions(depth=depth, fold=fold, hide_noise=noise, expand=tuple(expand),
                       collapse=tuple(collapse), dims={"batch": 2, "seq": 3})
    out = prepare(g, view)
    assert g.to_json() == before  # pure
    produced = {t for n in out.nodes.values() for t in n.outputs}
    dangling = {t for n in g.nodes.values() for t in n.inputs} - set(g.tensors)
    for node in out.nodes.values():
        for t in node.inputs:  # every edge starts at a live node (or was broken in the input)
            assert t in produced or t in out.inputs or t in dangling
        for i in range(1, len(node.group) + 1):
            assert node.group[:i] in out.groups
    a = annotate(g)
    assert a.meta["params"] == g.total_params
    for node in a.nodes.values():
        f = node.meta["flops"]
        assert f is None or (isinstance(f, int) and f >= 0)
    out.to_json()  # JSON-able
    # The summary renders every format on whatever the view produced.
    from nnviz.reports.summary import render_csv, render_json, render_markdown, summary_rows, totals

    rows = summary_rows(g, view, a)
    tot = totals(a)
    render_markdown("m", rows, tot)
    render_csv(rows, tot)
    render_json("m", rows, tot, {})
    from nnviz.reports.diff import compare

    assert not compare(a, annotate(g)).changes  # a graph equals itself
