"""Analysis passes on IR graphs built directly: shapes, params, FLOPs, collapse, fold, noise.

``transformer_graph`` builds the IR an ONNX export of a BERT-style encoder looks like
(name scopes, MatMul with initializer weights, Reshape/Transpose plumbing, shape subgraph),
with only the input shape known, so the shape pass has to do the work.
"""

from __future__ import annotations

import pytest

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.loaders.canon_attrs import canonicalize_node
from nnviz.passes import ViewOptions, annotate, prepare
from nnviz.passes.collapse import collapse_groups
from nnviz.passes.flops import count_flops
from nnviz.passes.fold import fold_repeats
from nnviz.passes.noise import hide_noise
from nnviz.passes.params import count_params
from nnviz.passes.shapes import infer_shapes

D, HEADS, FF, SEQ, VOCAB = 64, 4, 256, 16, 1000


class Builder:
    def __init__(self, name: str = "model", framework: str = "onnx"):
        self.g = Graph(name, meta={"framework": framework})
        self.framework = framework
        self.n = 0

    def tensor(self, shape=None) -> str:
        self.n += 1
        tid = f"t{self.n}"
        self.g.add_tensor(Tensor(tid, shape, "float32"))
        return tid

    def input(self, shape, name="x") -> str:
        t = self.tensor(shape)
        self.g.add_node(Node(f"in_{name}", "Input", "io", name, outputs=[t]))
        self.g.inputs.append(t)
        return t

    def output(self, t: str) -> None:
        self.g.add_node(Node(f"out_{t}", "Output", "io", inputs=[t]))
        self.g.outputs.append(t)

    def op(self, op: str, kind: str, inputs, group=(), params=(), attrs=None, name="",
           n_out=1) -> str | list[str]:
        outs = [self.tensor() for _ in range(n_out)]
        nid = self.g.unique_node_id("/".join(group + (op,)))
        node = self.g.add_node(Node(nid, op, kind, name or nid, attrs or {}, list(inputs), outs,
                                    [Param(f"{'/'.join(group)}/{p[0]}", p[1], "float32")
                                     for p in params], tuple(group)))
        canonicalize_node(node, self.framework)  # attrs in the family's spelling, as a loader
        if group:
            self.g.ensure_group(tuple(group))
        return outs[0] if n_out == 1 else outs


def encoder_layer(b: Builder, x: str, scope: tuple[str, ...]) -> str:
    att = scope + ("attention",)
    ln = b.op("LayerNormalization", "norm", [x], att, [("ln.w", (D,)), ("ln.b", (D,))])
    q = b.op("MatMul", "linear", [ln], att, [("q.w", (D, D))])
    k = b.op("MatMul", "linear", [ln], att, [("k.w", (D, D))])
    v = b.op("MatMul", "linear", [ln], att, [("v.w", (D, D))])
    heads = []
    for t in (q, k, v):
        shp = b.op("Shape", "reshape", [t], att)
        r = b.op("Reshape", "reshape", [t, shp], att, attrs={"shape": [0, 0, HEADS, D // HEADS]})
        heads.append(b.op("Transpose", "reshape", [r], att, attrs={"perm": [0, 2, 1, 3]}))
    kt = b.op("Transpose", "reshape", [heads[1]], att, attrs={"perm": [0, 1, 3, 2]})
    scores = b.op("MatMul", "linear", [heads[0], kt], att)
    probs = b.op("Softmax", "activation", [scores], att, attrs={"axis": -1})
    ctx = b.op("MatMul", "linear", [probs, heads[2]], att)
    ctx = b.op("Transpose", "reshape", [ctx], att, attrs={"perm": [0, 2, 1, 3]})
    ctx = b.op("Reshape", "reshape", [ctx], att, attrs={"shape": [0, 0, D]})
    o = b.op("MatMul", "linear", [ctx], att, [("o.w", (D, D))])
    x = b.op("Add", "elementwise", [o, x], scope)
    mlp = scope + ("mlp",)
    ln2 = b.op("LayerNormalization", "norm", [x], mlp, [("ln.w", (D,)), ("ln.b", (D,))])
    h = b.op("MatMul", "linear", [ln2], mlp, [("fc1.w", (D, FF))])
    h = b.op("Add", "elementwise", [h], mlp, [("fc1.b", (FF,))])
    h = b.op("Gelu", "activation", [h], mlp)
    h = b.op("MatMul", "linear", [h], mlp, [("fc2.w", (FF, D))])
    return b.op("Add", "elementwise", [h, x], scope)


def transformer_graph(layers: int = 12) -> Graph:
    b = Builder("tiny-bert")
    ids = b.input(("batch", SEQ), "input_ids")
    x = b.op("Gather", "embedding", [ids], ("embeddings",), [("word", (VOCAB, D))])
    x = b.op("Add", "elementwise", [x], ("embeddings",), [("pos", (SEQ, D))])
    for i in range(layers):
        x = encoder_layer(b, x, ("encoder", f"layer.{i}"))
    x = b.op("LayerNormalization", "norm", [x], ("head",), [("ln.w", (D,)), ("ln.b", (D,))])
    x = b.op("ReduceMean", "reduce", [x], ("head",), attrs={"axes": [1], "keepdims": 0})
    y = b.op("Gemm", "linear", [x], ("head",), [("fc.w", (2, D)), ("fc.b", (2,))],
             attrs={"transB": 1})
    b.output(y)
    return b.g


PER_LAYER_PARAMS = 2 * D + 4 * D * D + 2 * D + D * FF + FF + FF * D


# ---- shapes ---------------------------------------------------------------------------------
def test_shapes_propagate_through_transformer_and_keep_symbolic_batch():
    g = infer_shapes(transformer_graph(2))
    out = g.tensors[g.outputs[0]].shape
    assert out == ("batch", 2)
    scores = [n for n in g.nodes.values() if n.op == "Softmax"][0]
    assert g.tensors[scores.outputs[0]].shape == ("batch", HEADS, SEQ, SEQ)
    ffn = [n for n in g.nodes.values() if n.op == "Gelu"][0]
    assert g.tensors[ffn.outputs[0]].shape == ("batch", SEQ, FF)


def test_shapes_conv_pool_flatten_linear_onnx_and_keras_layouts():
    b = Builder()
    x = b.input((1, 3, 32, 32))
    c = b.op("Conv", "conv", [x], params=[("w", (16, 3, 3, 3)), ("b", (16,))],
             attrs={"strides": [2, 2], "pads": [1, 1, 1, 1]})
    p = b.op("MaxPool", "pool", [c], attrs={"kernel_shape": [2, 2], "strides": [2, 2]})
    f = b.op("Flatten", "reshape", [p], attrs={"axis": 1})
    y = b.op("Gemm", "linear", [f], params=[("fc", (10, 16 * 8 * 8))], attrs={"transB": 1})
    g = infer_shapes(b.g)
    assert [g.tensors[t].shape for t in (c, p, f, y)] == [
        (1, 16, 16, 16), (1, 16, 8, 8), (1, 1024), (1, 10)]

    k = Builder(framework="keras")
    x = k.input((None, 28, 28, 1))
    c = k.op("Conv2D", "conv", [x], params=[("kernel", (5, 5, 1, 8)), ("bias", (8,))],
             attrs={"filters": 8, "kernel_size": [5, 5], "strides": [1, 1], "padding": "valid"})
    s = k.op("Conv2D", "conv", [c], params=[("kernel2", (3, 3, 8, 4))],
             attrs={"kernel_size": [3, 3], "strides": [2, 2], "padding": "same"})
    p = k.op("MaxPooling2D", "pool", [s], attrs={"pool_size": [2, 2], "padding": "valid"})
    gp = k.op("GlobalAveragePooling2D", "pool", [s])
    d = k.op("Dense", "linear", [gp], params=[("dense", (4, 10))])
    g = infer_shapes(k.g)
    assert [g.tensors[t].shape for t in (c, s, p, gp, d)] == [
        (None, 24, 24, 8), (None, 12, 12, 4), (None, 6, 6, 4), (None, 4), (None, 10)]


def test_shapes_torch_style_ops_and_unknown_stays_unknown():
    b = Builder(framework="torch")
    x = b.input((2, 3, 10))
    t = b.op("aten.transpose.int", "reshape", [x], attrs={"dim0": 1, "dim1": 2})
    lin = b.op("Linear", "linear", [t], params=[("w", (7, 3)), ("b", (7,))])
    cat = b.op("aten.cat.default", "reshape", [lin, lin], attrs={"dim": -1})
    red = b.op("aten.mean.dim", "reduce", [cat], attrs={"dim": [1], "keepdim": True})
    unk = b.op("MyCustomOp", "other", [red])
    after = b.op("Relu", "activation", [unk])
    g = infer_shapes(b.g)
    assert g.tensors[t].shape == (2, 10, 3)
    assert g.tensors[lin].shape == (2, 10, 7)
    assert g.tensors[cat].shape == (2, 10, 14)
    assert g.tensors[red].shape == (2, 1, 14)
    assert g.tensors[unk].shape is None and g.tensors[after].shape is None


def test_shapes_never_overwrite_and_input_not_mutated():
    b = Builder()
    x = b.input((1, 4))
    y = b.op("Relu", "activation", [x])
    b.g.tensors[y].shape = (1, 4)
    z = b.op("Relu", "activation", [y])
    before = b.g.to_json()
    g = infer_shapes(b.g)
    assert b.g.to_json() == before  # pure: input untouched
    assert g.tensors[z].shape == (1, 4)


# ---- params ---------------------------------------------------------------------------------
def test_params_rollup_per_group_bytes_trainable_and_shared_once():
    g = transformer_graph(3)
    bn = g.nodes[list(g.nodes)[2]]  # the positional Add: mark one weight non-trainable
    bn.params[0].trainable = False
    # A tied weight used by two nodes is counted once everywhere.
    head = [n for n in g.nodes.values() if n.op == "Gemm"][0]
    head.params.append(Param("embeddings/word", (VOCAB, D), "float32"))
    a = count_params(g)
    total = VOCAB * D + SEQ * D + 3 * PER_LAYER_PARAMS + 2 * D + 2 * D + 2
    assert a.meta["params"] == total == g.total_params
    assert a.meta["trainable_params"] == total - SEQ * D
    assert a.meta["param_bytes"] == 4 * total
    assert a.groups[("encoder",)].attrs["params"] == 3 * PER_LAYER_PARAMS
    assert a.groups[("encoder", "layer.1", "mlp")].attrs["params"] == \
        2 * D + D * FF + FF + FF * D
    assert a.nodes[head.id].meta["params"] == 2 * D + 2 + VOCAB * D


# ---- FLOPs ----------------------------------------------------------------------------------
def _one(op, kind, in_shapes, out_shape, params=(), attrs=None, framework="onnx"):
    b = Builder(framework=framework)
    xs = [b.input(s, f"x{i}") for i, s in enumerate(in_shapes)]
    y = b.op(op, kind, xs, params=params, attrs=attrs)
    b.g.tensors[y].shape = out_shape
    g = count_flops(b.g)
    node = [n for n in g.nodes.values() if n.op == op][0]
    return node.meta["flops"], node.meta["macs"]


def test_flops_conv_by_hand():
    # 3x3 conv, 3->16 channels, 32x32 output, batch 1: MACs = 32*32*16 * 3*3*3
    macs = 32 * 32 * 16 * 27
    assert _one("Conv", "conv", [(1, 3, 32, 32)], (1, 16, 32, 32),
                [("w", (16, 3, 3, 3)), ("b", (16,))]) == (2 * macs + 32 * 32 * 16, macs)
    # Keras layout (kh, kw, in, out), no bias, same numbers.
    assert _one("Conv2D", "conv", [(1, 32, 32, 3)], (1, 32, 32, 16), [("k", (3, 3, 3, 16))],
                {"filters": 16}, "keras") == (2 * macs, macs)
    # Depthwise 3x3 on 8 channels (groups=8): each output element sees 9 inputs.
    assert _one("Conv", "conv", [(1, 8, 10, 10)], (1, 8, 10, 10), [("w", (8, 1, 3, 3))],
                {"group": 8}) == (2 * 800 * 9, 800 * 9)


def test_flops_linear_matmul_by_hand():
    # torch Linear (out, in) on (2, 5, 32) -> (2, 5, 10): 2*5*32*10 MACs, + bias per output
    assert _one("Linear", "linear", [(2, 5, 32)], (2, 5, 10), [("w", (10, 32)), ("b", (10,))],
                framework="torch") == (2 * 3200 + 100, 3200)
    # Keras Dense kernel (in, out)
    assert _one("Dense", "linear", [(4, 32)], (4, 10), [("k", (32, 10))],
                framework="keras") == (2 * 1280, 1280)
    # activation x activation batched matmul: (2,4,16,8) @ (2,4,8,16)
    assert _one("MatMul", "linear", [(2, 4, 16, 8), (2, 4, 8, 16)], (2, 4, 16, 16)) == \
        (2 * 2 * 4 * 16 * 16 * 8, 2 * 4 * 16 * 16 * 8)


def test_flops_attention_by_hand():
    b_, s, e = 2, 10, 32
    tokens = b_ * s
    proj = tokens * (3 * e * e) + tokens * e * e
    core = b_ * s * s * (e + e)
    macs = proj + core
    bias_flops = tokens * e  # one flop per output element for the bias
    torch_mha = _one("MultiheadAttention", "attention", [(b_, s, e)], (b_, s, e),
                     [("in_proj_weight", (3 * e, e)), ("in_proj_bias", (3 * e,)),
                      ("out_proj.weight", (e, e)), ("out_proj.bias", (e,))],
                     {"batch_first": True, "num_heads": 4}, "torch")
    assert torch_mha == (2 * macs + bias_flops, macs)
    # Keras MultiHeadAttention(num_heads=4, key_dim=8): kernels (E, H, dk), output (H, dk, E)
    keras_mha = _one("MultiHeadAttention", "attention", [(b_, s, e), (b_, s, e)], (b_, s, e),
                     [("query/kernel", (e, 4, 8)), ("query/bias", (4, 8)),
                      ("key/kernel", (e, 4, 8)), ("key/bias", (4, 8)),
                      ("value/kernel", (e, 4, 8)), ("value/bias", (4, 8)),
                      ("attention_output/kernel", (4, 8, e)), ("attention_output/bias", (e,))],
                     {"num_heads": 4, "key_dim": 8}, "keras")
    assert keras_mha[1] == macs
    # SDPA on (B, H, S, d) tensors: B*H*S*S*(d + d)
    assert _one("aten.scaled_dot_product_attention.default", "attention",
                [(2, 4, 10, 8)] * 3, (2, 4, 10, 8)) == (2 * 2 * 4 * 100 * 16, 2 * 4 * 100 * 16)


def test_flops_norm_pool_elementwise_by_hand():
    n = 2 * 16 * 8 * 8
    assert _one("BatchNormalization", "norm", [(2, 16, 8, 8)], (2, 16, 8, 8),
                [("s", (16,)), ("b", (16,)), ("m", (16,)), ("v", (16,))]) == (2 * n, 0)
    assert _one("LayerNormalization", "norm", [(2, 10, 32)], (2, 10, 32),
                [("w", (32,)), ("b", (32,))]) == (5 * 640, 0)
    assert _one("MaxPool", "pool", [(1, 4, 8, 8)], (1, 4, 4, 4),
                attrs={"kernel_shape": [2, 2], "strides": [2, 2]}) == (64 * 4, 0)
    assert _one("GlobalAveragePool", "pool", [(1, 4, 8, 8)], (1, 4, 1, 1)) == (256, 0)
    assert _one("Add", "elementwise", [(3, 5), (3, 5)], (3, 5)) == (15, 0)
    assert _one("Softmax", "activation", [(3, 5)], (3, 5)) == (45, 0)
    assert _one("Reshape", "reshape", [(3, 5)], (15,)) == (0, 0)
    assert _one("WeirdCustom", "other", [(3, 5)], (3, 5)) == (None, None)


def test_flops_symbolic_dims_resolved_or_unknown():
    g = annotate(transformer_graph(2))
    assert g.meta["flops_unknown"] > 0  # batch unknown: matmuls cannot be counted
    g1 = annotate(transformer_graph(2), {"batch": 1})
    g4 = annotate(transformer_graph(2), {"batch": 4})
    assert g1.meta["flops_unknown"] == 0
    assert g4.meta["flops"] == 4 * g1.meta["flops"]
    layer = g1.groups[("encoder", "layer.0")].attrs
    qkv_o = 4 * SEQ * D * D
    core = 2 * HEADS * SEQ * SEQ * (D // HEADS)
    mlp = 2 * SEQ * D * FF
    assert layer["macs"] == qkv_o + core + mlp


# ---- collapse / fold / noise ----------------------------------------------------------------
def test_collapse_by_depth_keeps_edges_shapes_params_flops():
    g = annotate(transformer_graph(3), {"batch": 1})
    c = collapse_groups(g, depth=1)
    boxes = [n for n in c.nodes.values() if n.kind == "group"]
    assert [n.name for n in boxes] == ["encoder/layer.0", "encoder/layer.1", "encoder/layer.2"]
    for box in boxes:
        assert box.param_count == PER_LAYER_PARAMS
        assert box.meta["flops"] == g.groups[tuple(box.meta["group"])].attrs["flops"]
        assert len(box.inputs) == 1 and len(box.outputs) == 1
        assert c.tensors[box.outputs[0]].shape == ("batch", SEQ, D)  # symbolic stays symbolic
    # The chain is intact: each box feeds the next one.
    succ = c.successors()
    assert succ[boxes[0].id] == [boxes[1].id]
    assert c.total_params == g.total_params  # collapsing never changes the total
    assert not any(p[:2] == ("encoder", "layer.0") and len(p) > 2 for p in c.groups)
    # depth 0 collapses top-level groups; expand reopens one path (and its ancestors).
    c0 = collapse_groups(g, depth=0, expand=("encoder/layer.1",))
    names = sorted(n.name for n in c0.nodes.values() if n.kind == "group")
    assert names == ["embeddings", "encoder/layer.0", "encoder/layer.1/attention",
                     "encoder/layer.1/mlp", "encoder/layer.2", "head"]
    c2 = collapse_groups(g, depth=None, collapse=("head",))
    assert [n.name for n in c2.nodes.values() if n.kind == "group"] == ["head"]


def test_fold_twelve_layers_into_one_block():
    g = annotate(transformer_graph(12), {"batch": 1})
    f = fold_repeats(g, fold=True)
    layers = sorted({n.group[:2] for n in f.nodes.values() if n.group[:1] == ("encoder",)})
    assert layers == [("encoder", "layer.0")]
    grp = f.groups[("encoder", "layer.0")]
    assert grp.attrs["repeat"] == 12 and "\u00d712" in grp.label
    assert grp.attrs["params_total"] == 12 * PER_LAYER_PARAMS
    # The head still hangs off the (folded) encoder.
    head_ln = [n for n in f.nodes.values() if n.group == ("head",)][0]
    preds = f.predecessors()[head_ln.id]
    assert f.nodes[preds[0]].group[:2] == ("encoder", "layer.0")
    # Collapsed by depth, the folded block is ONE box "×12".
    c = collapse_groups(f, depth=1)
    boxes = [n for n in c.nodes.values() if n.kind == "group"]
    assert len(boxes) == 1 and boxes[0].meta["repeat"] == 12
    # Different structure does not fold; no-fold leaves everything.
    assert len(fold_repeats(g, fold=False).nodes) == len(g.nodes)


def test_fold_requires_identical_and_chained_blocks():
    b = Builder()
    x = b.input((1, D))
    a = b.op("Relu", "activation", [x], ("block.0",))
    c = b.op("Relu", "activation", [x], ("block.1",))  # parallel, not chained
    y = b.op("Add", "elementwise", [a, c])
    z = b.op("Relu", "activation", [y], ("block.2",))
    w = b.op("Tanh", "activation", [z], ("block.3",))  # chained but different op
    b.output(w)
    f = fold_repeats(b.g, fold=True)
    assert len(f.nodes) == len(b.g.nodes)


def test_prepare_defaults_fold_and_collapse_big_model_and_depth99_shows_all():
    g = transformer_graph(12)
    small = prepare(g)
    # Folded: the 12 layers are drawn once in a "x12" frame, opened one level because a
    # layer holds residual connections (passes.autoview): attention, add, mlp, add.
    assert small.groups[("encoder", "layer.0")].attrs["repeat"] == 12
    assert not any(p[:2] == ("encoder", "layer.1") for p in small.groups)
    layer = [n for n in small.nodes.values() if n.group == ("encoder", "layer.0")]
    assert [n.op for n in layer] == ["attention", "Add", "mlp", "Add"]
    assert small.total_params == g.total_params
    # --depth 2: the layers are one "x12" box between embeddings and head.
    boxed2 = prepare(g, ViewOptions(depth=2))
    reps = [n for n in boxed2.nodes.values() if n.meta.get("repeat") == 12]
    assert len(reps) == 1 and reps[0].meta["group"] == ["encoder", "layer.0"]
    assert reps[0].name == "encoder/layer.0 \u2026 layer.11"
    # --expand opens the folded block: one layer's ops, the frame says x12.
    opened = prepare(g, ViewOptions(expand=("encoder/layer.0",)))
    assert opened.groups[("encoder", "layer.0")].attrs["repeat"] == 12
    assert not any(p[:2] == ("encoder", "layer.1") for p in opened.groups)
    assert sum(n.group[:2] == ("encoder", "layer.0") for n in opened.nodes.values()) == 27
    # --depth 1 (torchinfo's depth): the model's direct children are the boxes.
    boxed = prepare(g, ViewOptions(depth=1))
    assert [n.name for n in boxed.nodes.values() if n.kind == "group"] == \
        ["embeddings", "encoder", "head"]
    # --depth 0: the whole model is one box with the model's total.
    (whole,) = [n for n in prepare(g, ViewOptions(depth=0)).nodes.values()
                if n.kind == "group"]
    assert whole.meta["params"] == g.total_params
    # Without folding the 12 layers do not fit: auto depth collapses them to boxes, and
    # layers holding residuals open one level while the drawing fits a page (72 boxes).
    unfolded = prepare(g, ViewOptions(fold=False))
    assert len(unfolded.nodes) <= 72
    assert sum(n.kind == "group" for n in unfolded.nodes.values()) >= 12
    assert sum(n.op == "Add" for n in unfolded.nodes.values()) >= 2
    full = prepare(g, ViewOptions(depth=99, fold=False))
    assert len(full.nodes) == len(g.nodes)
    assert full.total_params == g.total_params


def test_hide_noise_splices_plumbing():
    g = annotate(transformer_graph(1), {"batch": 1})
    h = hide_noise(g)
    ops = {n.op for n in h.nodes.values()}
    assert not ops & {"Reshape", "Transpose", "Shape"}
    # per layer: 3 x (Shape, Reshape, Transpose) for q/k/v, K^T, and the merge Transpose+Reshape
    assert h.meta["hidden_nodes"] == 3 * 3 + 1 + 2
    # The attention score MatMul now reads the Q and K projections directly.
    scores = [n for n in h.nodes.values() if n.op == "MatMul" and not n.params][0]
    prod = h.producers()
    assert all(h.nodes[prod[t]].op == "MatMul" and h.nodes[prod[t]].params
               for t in scores.inputs)
    # Every remaining edge points to a live node, and the output is still reachable.
    order = h.topological_order()
    assert order[-1].startswith("out_")
    assert h.total_params == g.total_params


def test_passes_are_pure():
    g = transformer_graph(2)
    before = g.to_json()
    prepare(g, ViewOptions(depth=1, fold=True, hide_noise=True, dims={"batch": 1}))
    assert g.to_json() == before


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_collapse_every_depth_gives_consistent_graph(depth):
    g = annotate(transformer_graph(2), {"batch": 1})
    c = collapse_groups(g, depth=depth)
    prod = c.producers()
    for node in c.nodes.values():
        for t in node.inputs:
            assert t in c.tensors
            assert t in prod or t in c.inputs
        if node.kind != "io":
            assert node.group in c.groups or node.group == ()
    assert c.meta["flops"] == sum(n.meta.get("flops") or 0 for n in c.nodes.values())


def test_fold_needs_numbered_siblings():
    b = Builder()
    x = b.input((1, D))
    y = encoder_layer(b, x, ("encoder",))
    z = encoder_layer(b, y, ("decoder",))  # same structure, different role
    b.output(z)
    assert len(fold_repeats(b.g, fold=True).nodes) == len(b.g.nodes)
    b2 = Builder()
    x = b2.input((1, D))
    for i in range(1, 4):
        x = encoder_layer(b2, x, (f"block{i}",))  # Keras-style numbering folds
    b2.output(x)
    f = fold_repeats(b2.g, fold=True)
    assert f.groups[("block1",)].attrs["repeat"] == 3
