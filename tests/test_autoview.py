"""The automatic view (nnviz.passes.autoview) and --depth on real models: residuals and skip
connections stay visible when they fit a page, mask plumbing is one box, leaf modules spelled
as ops are one box, and --depth N means torchinfo's depth."""

from __future__ import annotations

import warnings

import pytest
import view_models
from test_passes import Builder
from zoo.invariants import non_convex_groups

import nnviz
from nnviz.passes import ViewOptions, prepare
from nnviz.passes.autoview import PLUMBING_MIN, group_plumbing, has_skip

PAGE = 72  # 1.5 x the 48-box budget


def _load(model, example):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nnviz.load(model, example_input=example)


def test_resnet18_default_shows_every_residual():
    model, x = view_models.resnet18()
    g = _load(model, x)
    view = prepare(g)
    assert len(view.nodes) <= PAGE
    adds = [n for n in view.nodes.values() if n.op == "aten.add"]
    # Eight BasicBlocks; layer1's two identical blocks are drawn once ("×2").
    assert len(adds) == 7, [n.group for n in adds]
    for add in adds:  # each add reads the block's input (the shortcut) directly or through
        preds = {view.producers().get(t) for t in add.inputs}  # the downsample box
        assert len(preds) == 2
    assert view.total_params == sum(p.numel() for p in model.parameters())


def test_causal_encoder_is_not_input_fold_output():
    model, ids = view_models.causal_encoder()
    view = prepare(_load(model, ids))
    assert len(view.nodes) > 5
    frames = [p for p, grp in view.groups.items() if grp.attrs.get("repeat") == 6]
    assert frames == [("enc", "layers.0")]
    inside = [n for n in view.nodes.values() if n.group == ("enc", "layers.0")]
    assert sum(n.op == "aten.add" for n in inside) == 2  # both residuals
    assert any(n.name == "self_attn" for n in inside)


def test_llama_norms_are_boxes_and_layers_open():
    model, ids = view_models.llama()
    view = prepare(_load(model, ids))
    final = [n for n in view.nodes.values() if n.name == "norm" or n.name == "model/norm"]
    assert len(final) == 1  # the final RMSNorm is one box, not seven ops
    assert not any(n.group == ("model", "norm") for n in view.nodes.values())
    inside = [n for n in view.nodes.values() if n.group == ("model", "layers.0")]
    assert sum(n.op == "aten.add" for n in inside) == 2
    assert view.groups[("model", "layers.0")].attrs["repeat"] == 4


def test_gpt2_plumbing_is_one_box_and_depth_follows_torchinfo():
    model, ids = view_models.gpt2(6)
    g = _load(model, ids)
    default = prepare(g)
    plumbing = [n for n in default.nodes.values() if n.op == "Plumbing"]
    assert len(plumbing) == 1 and plumbing[0].meta["collapsed_nodes"] >= 20
    assert len(default.nodes) <= 30
    # --depth 1: the model's direct children (transformer, lm_head) are the boxes.
    d1 = prepare(g, ViewOptions(depth=1))
    assert sorted(n.name for n in d1.nodes.values() if n.kind not in ("io",)
                  and n.param_count + n.meta.get("params", 0)) == ["lm_head", "transformer"]
    assert len(d1.nodes) < len(default.nodes)
    d2 = prepare(g, ViewOptions(depth=2))
    assert any(n.meta.get("repeat") == 6 for n in d2.nodes.values())
    d0 = prepare(g, ViewOptions(depth=0))
    assert [n.kind for n in d0.nodes.values()] == ["io", "group", "io"]
    assert d0.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_gpt2_dynamo_onnx_default_and_depth(tmp_path):
    torch = pytest.importorskip("torch")
    model, ids = view_models.gpt2(12)
    path = tmp_path / "gpt2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids,), str(path), dynamo=True, input_names=["input_ids"])
    g = nnviz.load(path)
    default, d1 = prepare(g), prepare(g, ViewOptions(depth=1))
    assert len(d1.nodes) < len(default.nodes)
    assert default.groups[("transformer", "h.0")].attrs["repeat"] == 12
    assert sum(n.op == "Add" for n in default.nodes.values()
               if n.group == ("transformer", "h.0")) == 2


# ---- the rules on small hand-built graphs -------------------------------------------------

def test_has_skip_sees_residuals_not_norms_or_attention():
    b = Builder()
    x = b.input((1, 8))
    h = b.op("MatMul", "linear", [x], ("blk",), params=[("w", (8, 8))])
    y = b.op("Add", "elementwise", [x, h], ("blk",))
    b.output(y)
    ids = [n.id for n in b.g.nodes.values() if n.group == ("blk",)]
    assert has_skip(b.g, ("blk",), ids)
    # RMSNorm spelled as ops: x * rsqrt(mean(x^2)): a fork and a merge, no layer between.
    b = Builder()
    x = b.input((1, 8))
    p = b.op("Pow", "elementwise", [x], ("norm",))
    m = b.op("ReduceMean", "reduce", [p], ("norm",))
    r = b.op("Sqrt", "elementwise", [m], ("norm",))
    y = b.op("Mul", "elementwise", [x, r], ("norm",), params=[("w", (8,))])
    b.output(y)
    ids = [n.id for n in b.g.nodes.values() if n.group == ("norm",)]
    assert not has_skip(b.g, ("norm",), ids)
    # Attention: q and k from one projection meet in a product, not a sum.
    b = Builder()
    x = b.input((1, 8))
    qkv = b.op("MatMul", "linear", [x], ("attn",), params=[("w", (8, 24))])
    q = b.op("Slice", "reshape", [qkv], ("attn",))
    k = b.op("Slice", "reshape", [qkv], ("attn",))
    s = b.op("MatMul", "linear", [q, k], ("attn",))
    b.output(s)
    ids = [n.id for n in b.g.nodes.values() if n.group == ("attn",)]
    assert not has_skip(b.g, ("attn",), ids)


def test_plumbing_group_never_spans_a_trunk_op():
    """CLIP's text tower (TorchScript export): the mask ops at the start and the EOS pooling
    index, built from the ids and the shape of the final norm's output, are one connected
    set of side ops. As one box it would feed the trunk and read from it further down: a
    loop. It is cut into a mask group before the trunk and an index group after it."""
    b = Builder()
    ids = b.input((1, 8), "ids")
    b.g.tensors[ids].dtype = "int64"
    e = b.op("Gather", "embedding", [ids], (), params=[("emb", (100, 8))])
    a = b.op("ArgMax", "reduce", [ids], ())  # shared by the mask and the pooling index
    s = b.op("Shape", "other", [a], ())
    r = b.op("Range", "other", [s], ())
    c = b.op("Less", "elementwise", [r, a], ())
    w = b.op("Where", "elementwise", [c], ())
    h = b.op("Add", "elementwise", [e, w], ())
    n = b.op("LayerNormalization", "norm", [h], (), params=[("ln", (8,))])
    s2 = b.op("Shape", "other", [n], ())  # the final norm's shape
    g2 = b.op("Gather", "reshape", [s2], ())
    r2 = b.op("Range", "other", [g2], ())
    i = b.op("Add", "elementwise", [r2, a], ())
    y = b.op("GatherND", "reshape", [n, i], ())
    b.output(y)
    g = b.g
    group_plumbing(g)
    groups = {}
    for node in g.nodes.values():
        if node.group and node.group[-1].startswith("plumbing"):
            groups.setdefault(node.group, []).append(node.op)
    assert sorted(groups.values()) == [["ArgMax", "Shape", "Range", "Less", "Where"],
                                       ["Shape", "Gather", "Range", "Add"]]
    assert not non_convex_groups(g)


def test_plumbing_needs_side_ops_only_and_enough_of_them():
    b = Builder()
    ids = b.input((1, 8), "ids")
    b.g.tensors[ids].dtype = "int64"  # token ids: not activations
    e = b.op("Gather", "embedding", [ids], (), params=[("emb", (100, 8))])
    # A causal mask from the ids' shape: Shape, Range, Unsqueeze, Less, Where.
    s = b.op("Shape", "other", [ids], ())
    r = b.op("Range", "other", [s], ())
    u = b.op("Unsqueeze", "reshape", [r], ())
    c = b.op("Less", "elementwise", [u, r], ())
    w = b.op("Where", "elementwise", [c], ())
    y = b.op("Add", "elementwise", [e, w], ())
    b.output(y)
    g = b.g
    group_plumbing(g)
    moved = [n.op for n in g.nodes.values() if n.group == ("plumbing",)]
    assert moved == ["Shape", "Range", "Unsqueeze", "Less", "Where"]
    assert g.nodes[next(n for n in g.nodes if g.nodes[n].op == "Add")].group == ()
    assert PLUMBING_MIN <= len(moved)
