"""Totals never change with the view, folds name their block range and count every block,
labels show every output and readable symbolic sizes (issue 14: fold/collapse/labels).

Real models: the shipped 12-layer transformer ONNX example, a hand-written ResNet-18, GPT-2
and T5 from small transformers configs (random weights, built here)."""

from __future__ import annotations

import json
import warnings

import pytest
import view_models

import nnviz
from nnviz.ir import Graph, Node, Tensor
from nnviz.layout.labels import (
    LabelMemo,
    human_count,
    label_shape,
    node_lines,
    params_text,
    shape_lines,
)
from nnviz.passes import ViewOptions, annotate, prepare
from nnviz.symbolic import readable_dim

VIEWS = [ViewOptions(), ViewOptions(depth=0), ViewOptions(depth=1), ViewOptions(depth=2),
         ViewOptions(fold=False), ViewOptions(fold=True, depth=1),
         ViewOptions(hide_noise=True), ViewOptions(hide_noise=True, depth=0),
         ViewOptions(depth=99, fold=False)]


def _load_torch(model, example):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nnviz.load(model, example_input=example)


@pytest.fixture(scope="module")
def gpt2_graph():
    model, ids = view_models.gpt2(6)
    return model, _load_torch(model, ids)


@pytest.fixture(scope="module")
def resnet_graph():
    model, x = view_models.resnet18()
    return model, _load_torch(model, x)


def _boxes_total(view: Graph) -> int:
    """What the boxes of a drawing say, summed: a box per node, a folded box counting its run
    (a weight shared by two boxes counts in both, as each box says)."""
    total = 0
    for n in view.nodes.values():
        if n.meta.get("repeat"):
            count = n.meta["params_total"]
        elif n.kind == "group":
            count = n.meta["params"]
        else:
            count = n.param_count
        # A box drawn inside an open "×N" frame stands for N copies.
        for i in range(1, len(n.group) + 1):
            grp = view.groups.get(n.group[:i])
            if grp is not None and grp.attrs.get("repeat"):
                count *= grp.attrs["repeat"]
        total += count
    return total


def test_transformer12_totals_equal_annotated_total_in_every_view(examples_dir, tmp_path):
    g = nnviz.load(examples_dir / "transformer12.onnx")
    full = annotate(g).total_params
    assert full == 111_040
    for opts in VIEWS:
        view = prepare(g, opts)
        assert view.total_params == full, opts
        assert view.meta["params"] == full, opts
        assert _boxes_total(view) == full, opts
    out = tmp_path / "t.json"
    nnviz.draw(examples_dir / "transformer12.onnx", out)
    assert json.loads(out.read_text())["graph"]["total_params"] == 111_040


def test_folded_box_names_its_range_and_counts_every_block(examples_dir):
    view = prepare(nnviz.load(examples_dir / "transformer12.onnx"), ViewOptions(depth=2))
    (fold,) = [n for n in view.nodes.values() if n.meta.get("repeat")]
    each, total = fold.meta["params"], fold.meta["params_total"]
    assert fold.meta["repeat"] == 12 and total == 12 * each
    text = params_text(fold)
    assert text == f"params: {human_count(each)} each \u00b7 " \
                   f"{human_count(total)} total"
    assert text in [ln.text for ln in node_lines(view, fold)]


def test_gpt2_fold_label_collapsed_totals_and_depths(gpt2_graph):
    model, g = gpt2_graph
    torch_total = sum(p.numel() for p in model.parameters())
    assert annotate(g).total_params == torch_total
    boxed = prepare(g, ViewOptions(depth=2))
    (fold,) = [n for n in boxed.nodes.values() if n.meta.get("repeat")]
    # The range names both ends the same way (not "0 … h.11").
    assert fold.name.endswith("h.0 \u2026 h.5") and fold.meta["repeat"] == 6
    grp_label = annotate(g)
    tied = model.lm_head.weight.numel()  # wte and lm_head: one tensor, shown in both boxes
    for opts in VIEWS:
        view = prepare(g, opts)
        assert view.total_params == torch_total, opts
        # Both tied ends in their own boxes count the tensor in each, as each box says.
        assert _boxes_total(view) in (torch_total, torch_total + tied), opts
    assert _boxes_total(prepare(g, ViewOptions(depth=0))) == torch_total  # one box
    # A collapsed GPT2Model holding the fold counts all 12 blocks, like torch does.
    shallow = prepare(g, ViewOptions(depth=1))
    (box,) = [n for n in shallow.nodes.values() if n.name == "transformer"]
    assert box.meta["params"] == sum(p.numel() for p in model.transformer.parameters())
    assert grp_label.groups[("transformer",)].attrs["params"] == box.meta["params"]


@pytest.mark.slow
def test_gpt2_48_blocks_collapsed_counts_48():
    model, ids = view_models.gpt2(48)
    g = _load_torch(model, ids)
    want = sum(p.numel() for p in model.transformer.parameters())
    (whole,) = [n for n in prepare(g, ViewOptions(depth=0)).nodes.values()
                if n.kind == "group"]
    assert whole.meta["params"] == sum(p.numel() for p in model.parameters())
    for opts in (ViewOptions(), ViewOptions(depth=1), ViewOptions(depth=2)):
        view = prepare(g, opts)
        boxes = [n for n in view.nodes.values() if n.name == "transformer"]
        folds = [n for n in view.nodes.values() if n.meta.get("repeat")]
        frames = [grp for grp in view.groups.values() if grp.attrs.get("repeat")]
        assert boxes or folds or frames, opts
        for grp in frames:  # an open "×48" frame (the default view: blocks hold residuals)
            assert grp.attrs["repeat"] == 48
            assert grp.attrs["params_total"] == 48 * grp.attrs["params"]
        for b in boxes:
            assert b.meta["params"] == want, opts
        for f in folds:
            assert f.meta["repeat"] == 48 and f.meta["params_total"] == 48 * f.meta["params"]
        assert view.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_t5_stacks_count_all_their_blocks():
    model, example = view_models.t5()
    g = _load_torch(model, example)
    inner = model.m
    for depth in (1, 2):
        view = prepare(g, ViewOptions(depth=depth))
        for part in ("encoder", "decoder"):
            boxes = [n for n in view.nodes.values() if n.name.endswith(part)
                     and n.kind == "group"]
            if boxes:
                assert boxes[0].meta["params"] == sum(
                    p.numel() for p in getattr(inner, part).parameters()), (depth, part)
        assert view.total_params == sum(p.numel() for p in model.parameters())


def test_resnet18_numbered_blocks_fold_label(resnet_graph):
    _, g = resnet_graph
    view = prepare(g, ViewOptions(fold=True, depth=99))
    labels = [grp.attrs.get("fold_label") for grp in view.groups.values()
              if grp.attrs.get("repeat")]
    assert "layer1.0 \u2026 layer1.1" in labels, labels


# ---- labels -------------------------------------------------------------------------------

def test_readable_symbolic_sizes():
    assert readable_dim("floor(floor(floor(height/2 - 1/2)/2)/2)") == "height/8"
    assert readable_dim("((s0 - 1)//2) + 1") == "s0/2"
    assert readable_dim("64*floor(h/8)*floor(w/8)") == "h*w"
    assert readable_dim("s0 + s1") == "s0 + s1"
    assert readable_dim("s0 - 2") == "s0 - 2"
    assert readable_dim("batch") == "batch"
    assert readable_dim("Max(1, s0)") == "Max(1, s0)"  # not understood: as written
    assert readable_dim("2*(s0") == "2*(s0"  # malformed: as written, no exception
    assert label_shape((1, "floor(floor(floor(height/2 - 1/2)/2)/2)", 64)) == \
        "(1, height/8, 64)"


def test_a_long_shape_loses_whole_sizes_never_half_of_one():
    long = "Max(" + ", ".join(f"s{i}" for i in range(40)) + ")"
    text = label_shape((1, long, 3))
    assert text == "(1, \u2026, 3)"


def _split_graph(n_out: int) -> Graph:
    g = Graph(name="split")
    g.add_tensor(Tensor("x", (1, 16, 64 * n_out)))
    outs = [f"y{i}" for i in range(n_out)]
    for t in outs:
        g.add_tensor(Tensor(t, (1, 16, 64)))
    g.add_node(Node("split", "Split", "reshape", inputs=["x"], outputs=outs))
    g.inputs, g.outputs = ["x"], outs
    return g


def test_every_output_shape_is_shown_or_counted():
    g = _split_graph(3)
    lines = [ln.text for ln in node_lines(g, g.nodes["split"]) if ln.style == "detail"]
    assert " ".join(lines).count("(1, 16, 64)") == 3
    g = _split_graph(12)
    lines = [ln.text for ln in node_lines(g, g.nodes["split"]) if ln.style == "detail"]
    shown = " ".join(lines).count("(1, 16, 64)")
    assert f"+{12 - shown} more" in lines[-1] and shown >= 2
    assert shape_lines(["(1, 2)", "(3, 4)"]) == ["(1, 2) (3, 4)"]  # two shapes: as before


def test_label_memo_gives_what_each_box_says_alone():
    """The layout measures repeated shapes once (LabelMemo): every box still says exactly
    what node_lines says without the memo, and dims that hash alike but print differently
    (5, 5.0, True) never share a text."""
    g = Graph(name="memo")
    shapes = {"a": (1, 5), "b": (1, 5.0), "c": (1, True), "d": (1, "floor(s0/2 - 1/2)"),
              "e": (1, 5)}
    for t, shape in shapes.items():
        g.add_tensor(Tensor(t, shape))
    g.add_tensor(Tensor("x", (1, 5)))
    for t in shapes:
        g.add_node(Node(t, "Relu", "activation", inputs=["x"], outputs=[t]))
    g.add_node(Node("split", "Split", "reshape", inputs=["x"], outputs=list(shapes)))
    memo = LabelMemo()
    for node in g.nodes.values():
        alone = [(ln.text, ln.style) for ln in node_lines(g, node)]
        assert [(ln.text, ln.style) for ln in node_lines(g, node, memo)] == alone
    texts = [node_lines(g, g.nodes[t], memo)[-1].text for t in "abcd"]
    assert texts == ["(1, 5)", "(1, 5.0)", "(1, True)", "(1, s0/2)"]


def test_viewer_groups_say_what_the_passes_count(resnet_graph):
    """The HTML viewer's group totals are the passes' (learnable parameters only: BatchNorm's
    running statistics are buffers, counted apart), not a recount of every tensor."""
    from nnviz.layout import layout
    from nnviz.theme import load_theme
    from nnviz.viewer.page import _group_table, pack_page

    model, g = resnet_graph
    graph = annotate(g)
    theme = load_theme()
    data = pack_page(graph, layout(graph, theme=theme), theme, "layered", "TB")
    paths = _group_table(graph)
    assert data["groups"][0]["params"] == sum(p.numel() for p in model.parameters())
    buffered = 0
    for path, grp in zip(paths[1:], data["groups"][1:], strict=True):
        assert grp["params"] == graph.groups[path].attrs["params"], path
        assert grp["flops"] == graph.groups[path].attrs["flops"], path
        every = {p.name: p.count or 0 for n in graph.nodes.values() if n.group[:len(path)] == path
                 for p in n.params}
        buffered += sum(every.values()) > grp["params"]  # the old recount said this
    assert buffered  # groups holding BatchNorms: their buffers are not parameters
