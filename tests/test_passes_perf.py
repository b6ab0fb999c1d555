"""The fast paths of the passes and the SVG writer give the same results as the plain ones.

The 50k-node work (issue 4) replaced Graph.topological_order in the passes by an index-based
one, let the view transforms work in place on graphs they own, rolled params/FLOPs up per
distinct group path and memoised SVG number/attribute formatting. Each is checked here
against the straightforward definition it replaced, on graphs built in the test.
"""

from __future__ import annotations

import gc
import json
import random
import re
from xml.sax.saxutils import escape, quoteattr

import pytest
from test_passes import Builder, transformer_graph

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.passes import ViewOptions, annotate, prepare, view_transforms, wrap_in_root_group
from nnviz.passes.autoview import choose_closed
from nnviz.passes.collapse import AUTO_MAX_BOXES, collapse_groups
from nnviz.passes.fold import fold_repeats
from nnviz.passes.noise import hide_noise
from nnviz.passes.params import count_params, param_totals
from nnviz.passes.util import copy_graph, topological_order
from nnviz.render.scene import clean_text, paint
from nnviz.render.svg import _attr, _f, _paint
from nnviz.util import paused_gc


def _random_graph(rng: random.Random) -> Graph:
    """Any wiring: cycles, self-loops, repeated inputs, tensors nobody produces."""
    g = Graph()
    n = rng.randint(1, 40)
    for i in range(n):
        ins = [f"t{rng.randrange(n + 3)}" for _ in range(rng.randint(0, 4))]
        outs = [f"t{i}"] + ([f"t{rng.randrange(n + 3)}"] if rng.random() < 0.2 else [])
        g.add_node(Node(f"n{rng.randrange(10**6)}_{i}", "Op", inputs=ins, outputs=outs))
    return g


def test_topological_order_is_graphs_order_on_any_wiring():
    rng = random.Random(4)
    for _ in range(400):
        g = _random_graph(rng)
        assert topological_order(g) == g.topological_order()
    big = transformer_graph(6)
    assert topological_order(big) == big.topological_order()


def _old_view_transforms(graph: Graph, options: ViewOptions) -> Graph:
    """The view transforms as plain copying calls (before the in-place chaining)."""
    g = hide_noise(graph) if options.hide_noise else graph
    g = fold_repeats(g, options.fold)
    depth, collapse = options.depth, tuple(options.collapse)
    if depth is not None:
        g = copy_graph(g)
        if depth == 0:
            wrap_in_root_group(g)
        depth = max(depth - 1, 0)
    else:
        g = copy_graph(g)
        closed = choose_closed(g, AUTO_MAX_BOXES)
        if closed is None:
            closed = {p for p, grp in g.groups.items() if grp.attrs.get("repeat")}
        wanted = [tuple(e.split("/")) for e in options.expand]
        collapse += tuple(sorted(p for p in closed if not any(p[:len(e)] == e for e in wanted)))
    if depth is None and not collapse and not options.expand:
        return g
    return collapse_groups(g, depth, options.expand, collapse)


VIEWS = [ViewOptions(), ViewOptions(depth=99, fold=False), ViewOptions(depth=1),
         ViewOptions(depth=0), ViewOptions(fold=True, expand=("encoder/layer.0",)),
         ViewOptions(hide_noise=True), ViewOptions(fold=False, collapse=("head",)),
         ViewOptions(depth=2, fold=True)]


@pytest.mark.parametrize("options", VIEWS, ids=lambda o: repr(o)[12:60])
def test_view_transforms_in_place_equal_copying_chain_and_leave_input_alone(options):
    annotated = annotate(transformer_graph(6))
    before = annotated.to_json()
    expected = _old_view_transforms(annotated, options).to_json()
    got = view_transforms(annotated, options)
    assert got.to_json() == expected
    assert annotated.to_json() == before  # the caller's graph is never touched
    assert got is not annotated
    # prepare hands annotate's private result to the transforms without another copy
    raw = transformer_graph(6)
    raw_before = raw.to_json()
    assert prepare(raw, options).to_json() == expected
    assert raw.to_json() == raw_before


def test_copy_graph_is_independent_and_normalises_group_tuples():
    g = transformer_graph(2)
    node = next(iter(g.nodes.values()))
    node.group = list(node.group)  # a sloppy loader's list
    c = copy_graph(g)
    assert c.nodes[node.id].group == tuple(node.group)
    assert type(c.nodes[node.id].group) is tuple
    c.nodes[node.id].inputs.append("x")
    c.nodes[node.id].meta["k"] = 1
    c.nodes[node.id].attrs["a"] = 2
    next(iter(c.tensors.values())).shape = (9,)
    assert "x" not in node.inputs and "k" not in node.meta and "a" not in node.attrs
    assert next(iter(g.tensors.values())).shape != (9,)
    assert isinstance(c.nodes[node.id], Node)
    assert isinstance(next(iter(c.tensors.values())), Tensor)


def test_param_rollups_equal_param_totals_over_members():
    b = Builder()
    x = b.input((1, 8))
    shared = Param("shared.w", (8, 8), "float32")
    frozen = Param("frozen.w", (8, 8), None, trainable=False)
    for i in range(3):
        x = b.op("MatMul", "linear", [x], ("blocks", f"b{i}"), [("w", (8, 8))])
        b.g.nodes[list(b.g.nodes)[-1]].params.append(shared)
        x = b.op("Relu", "activation", [x], ("blocks", f"b{i}", "act"))  # no params
    x = b.op("MatMul", "linear", [x], ("tail",))
    b.g.nodes[list(b.g.nodes)[-1]].params.extend([frozen, shared])
    b.output(x)
    del b.g.groups[("blocks", "b1", "act")]  # a path only nodes know: still rolled up
    g = count_params(b.g)
    for path, grp in g.groups.items():
        members = [p for n in g.nodes.values() if n.group[:len(path)] == path for p in n.params]
        ref = param_totals(members)
        assert {k: grp.attrs[k] for k in ref} == ref, path
    everything = param_totals(p for n in g.nodes.values() for p in n.params)
    assert {k: g.meta[k] for k in everything} == everything
    assert g.meta["params"] == 3 * 64 + 64 + 64 and g.meta["param_bytes"] is None
    assert ("blocks", "b1", "act") in g.groups


def test_svg_number_and_attribute_memos_match_the_plain_formulas():
    rng = random.Random(7)
    values = [0.0, -0.0, 0.004, -0.004, 0.005, 1.0, 2.5, -3.125, 1e-9, 123456.789, 1e20, 7]
    values += [rng.uniform(-5000, 5000) for _ in range(2000)]
    values += [round(rng.uniform(0, 100), 2) for _ in range(500)]
    for v in values * 2:  # the second round is served from the memo
        s = f"{v:.2f}".rstrip("0").rstrip(".")
        assert _f(v) == ("0" if s in ("-0", "") else s), v
    for text in ["plain", "a&b", "<x>", 'say "hi"', "it's", "both \"'", "tab\tnl\n",
                 "bidi\u202eevil", "ünïcödé", ""]:
        assert _attr(text) == quoteattr(clean_text(text))
    for text in ["plain", "tab\there", "\x00\x1f\x7f", "\u2066iso\u2069", "ok é"]:
        assert clean_text(text) == re.sub(
            "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]", " ", text)
    for fill, stroke, width, dash in [("#fff", "#000", 1.0, None), (None, "#a&b", 2.5, (3, 2)),
                                      ("#fff", None, 1.0, None), ("#fff", "#000", 1.0, None)]:
        ref = f' fill="{escape(fill or "none")}"'
        if stroke:
            ref += f' stroke="{escape(stroke)}" stroke-width="{_f(width)}"'
        if dash:
            ref += f' stroke-dasharray="{_f(dash[0])},{_f(dash[1])}"'
        assert _paint(fill, stroke, width, dash) == ref
    for c in ["none", " None ", "transparent", "", " #abc ", "red", "#abc"] * 2:
        stripped = c.strip()
        assert paint(c) == (None if stripped.lower() in ("", "none", "transparent")
                            else stripped)


def test_paused_gc_restores_the_collector_state():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # only the outermost block turns it back on
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        with paused_gc():
            raise ValueError("boom")
    assert gc.isenabled()


def test_fold_result_is_json_stable():
    g = annotate(transformer_graph(12))
    a = json.dumps(view_transforms(g, ViewOptions()).to_dict())
    b = json.dumps(view_transforms(g, ViewOptions()).to_dict())
    assert a == b and '"repeat": 12' in a


def test_topological_order_fast_path_on_sorted_graphs():
    """Graphs listed in a topological order (as ONNX files are) keep it, as Kahn's
    smallest-first order would: the shortcut gives the same order."""
    rng = random.Random(7)
    for _ in range(200):
        g = Graph()
        n = rng.randint(1, 30)
        for i in range(n):
            ins = [f"t{rng.randrange(i)}" for _ in range(rng.randint(0, 3))] if i else []
            if rng.random() < 0.1:
                ins.append(f"t{rng.randrange(n)}")  # now and then a later one: a back edge
            g.add_node(Node(f"n{i}", "Op", inputs=ins, outputs=[f"t{i}"]))
        assert topological_order(g) == g.topological_order()


class _Text(str):
    """A str subclass: JSON writes it as the str it is."""


def _reference_run(g: Graph, siblings, members):
    """fold._find_run as it was: JSON signatures and the produced-tensor chain test."""
    from nnviz.passes.fold import _stem, signature

    info = [(p, members[p], signature(g, p, members[p])) for p in siblings]

    def chained(prev, nxt):
        produced = {t for nid in prev for t in g.nodes[nid].outputs}
        return any(t in produced for nid in nxt for t in g.nodes[nid].inputs)

    i = 0
    while i < len(info):
        j = i + 1
        while j < len(info) and info[j][2] == info[i][2] and \
                _stem(info[j][0]) == _stem(info[i][0]) and chained(info[j - 1][1], info[j][1]):
            j += 1
        if j - i >= 2:
            return [(p, ids) for p, ids, _ in info[i:j]]
        i = j
    return None


def test_fold_keys_find_the_runs_json_signatures_find():
    """The fold compares blocks by tuples instead of JSON strings; values whose Python
    equality is not JSON's (1, 1.0, True; a str subclass; a list shape) must decide alike."""
    from nnviz.passes.fold import _children, _find_run

    # Each block is the same but for at most one value, drawn from look-alikes.
    variants = {"out": [1, True, 1.0, "n"], "param": [1, 1.0, True, "1", None],
                "op": ["Add", _Text("Add")], "diff": [None, "added", ["x"]],
                "seq": [list, tuple]}
    rng = random.Random(11)
    for _ in range(400):
        g = Graph()
        prev = "x"
        g.add_tensor(Tensor("x", (1, 4)))
        for b in range(rng.randint(2, 5)):
            pick = {k: v[0] for k, v in variants.items()}
            field = rng.choice(list(variants))
            pick[field] = rng.choice(variants[field])
            for k in range(2):
                nid, out = f"b{b}n{k}", f"b{b}t{k}"
                g.add_tensor(Tensor(out, (pick["out"], 4)))
                node = Node(nid, pick["op"], "elementwise", inputs=[prev], outputs=[out],
                            params=[Param(f"p{b}{k}", pick["seq"]([pick["param"], 3]))],
                            group=(f"layer.{b}",))
                if pick["diff"] is not None:
                    node.meta["diff"] = pick["diff"]
                g.add_node(node)
                prev = out
        children, members = _children(g, topological_order(g))
        for sib in children.values():
            assert _find_run(g, sib, members) == _reference_run(g, sib, members)


def test_fold_key_columns_decide_like_json_rows():
    """The fold's key flattens per-node lists (outputs, inputs, weights) into columns with
    the lengths beside them, and names a wire by its output's position in the block: it
    must decide like the per-node JSON rows when blocks differ in how many outputs,
    inputs or weights a node has, which output a node reads, or a sub-group."""
    from nnviz.passes.fold import _children, _find_run

    rng = random.Random(5)
    for _ in range(300):
        g = Graph()
        g.add_tensor(Tensor("x", (1, 4)))
        g.add_tensor(Tensor("side", (1, 4)))
        # per node: (outputs, weights, in a sub-group, which earlier output it reads: -1 side)
        base = [(rng.randint(1, 2), rng.randint(0, 2), rng.random() < 0.3, rng.randint(-1, 2))
                for _ in range(3)]
        prev = ["x"]
        for b in range(rng.randint(2, 5)):
            spec = list(base)
            if rng.random() < 0.5:  # one node of this block differs in one way
                k = rng.randrange(3)
                outs, nparams, sub, src = spec[k]
                spec[k] = rng.choice([(3 - outs, nparams, sub, src),
                                      (outs, (nparams + 1) % 3, sub, src),
                                      (outs, nparams, not sub, src),
                                      (outs, nparams, sub, (src + 2) % 4 - 1)])
            made: list[str] = []
            for k, (outs, nparams, sub, src) in enumerate(spec):
                ins = [prev[-1]] if k == 0 else ["side" if src < 0 else made[src % len(made)]]
                names = [f"b{b}t{k}o{j}" for j in range(outs)]
                for t in names:
                    g.add_tensor(Tensor(t, (1, 4)))
                g.add_node(Node(f"b{b}n{k}", "Op", "elementwise", inputs=ins, outputs=names,
                                params=[Param(f"b{b}p{k}{j}", (4, 4)) for j in range(nparams)],
                                group=(f"layer.{b}",) + (("sub",) if sub else ())))
                made.extend(names)
            prev = made
        children, members = _children(g, topological_order(g))
        for sib in children.values():
            assert _find_run(g, sib, members) == _reference_run(g, sib, members)


def _count_graph(rng: random.Random) -> Graph:
    """Params shared across groups, buffers, frozen and dtype-less weights, unknown and
    symbolic shapes, malformed attributes, a collapsed group node, groups only nodes know."""
    b = Builder()
    x = b.input(("batch", 8))
    shared = Param("shared.w", (8, 8), "float32")
    kinds = [("MatMul", "linear"), ("Relu", "activation"), ("Add", "elementwise"),
             ("LayerNormalization", "norm"), ("Conv", "conv"), ("MaxPool", "pool"),
             ("ReduceMean", "reduce"), ("Reshape", "reshape"), ("Mystery", "other"),
             ("Einsum", "linear"), ("Attention", "attention"), ("LSTM", "recurrent")]
    for i in range(rng.randint(1, 25)):
        op, kind = rng.choice(kinds)
        group = tuple(rng.choice(["a", "b"]) + str(rng.randrange(3))
                      for _ in range(rng.randint(0, 3)))
        params = [(f"w{j}", rng.choice([(8, 8), (8,), (3, 8, 8), None, (8, "k")]))
                  for j in range(rng.randint(0, 3))]
        attrs = rng.choice([None, {"kernel_shape": [2, 2]}, {"equation": "ab,bc->ac"},
                            {"kernel_shape": "bad"}])
        x = b.op(op, kind, [x] + ([x] if rng.random() < 0.3 else []), group, params, attrs)
        node = b.g.nodes[list(b.g.nodes)[-1]]
        b.g.tensors[x].shape = rng.choice([(1, 8), ("batch", 8), None, (1, 2, 4, 4), (2, 8)])
        if rng.random() < 0.2:
            node.params.append(shared)
        if rng.random() < 0.15:
            node.params.append(Param(f"buf{i}", (8,), "float32", role="buffer"))
        if rng.random() < 0.1:
            node.params.append(Param(f"frozen{i}", (4, 4), None, trainable=False))
        if rng.random() < 0.1:
            node.kind = "group"
            node.meta.update(flops=rng.choice([None, 10]), macs=5)
        if rng.random() < 0.2 and group:
            b.g.groups.pop(group, None)  # a path only nodes know: still rolled up
    b.output(x)
    return b.g


@pytest.mark.parametrize("dims", [None, {"batch": 2}])
def test_params_and_flops_in_one_walk_equal_the_two_passes(dims):
    """annotate counts parameters and FLOPs in one walk over the nodes: the same JSON (values
    and key order of nodes, groups and the graph) as the params pass, then the FLOPs pass."""
    from nnviz.passes.counts import count_params_and_flops_inplace
    from nnviz.passes.flops import count_flops_inplace
    from nnviz.passes.params import count_params_inplace

    rng = random.Random(19)
    graphs = [_count_graph(rng) for _ in range(300)] + [transformer_graph(3)]
    for g in graphs:
        want = count_flops_inplace(count_params_inplace(copy_graph(g)), dims)
        got = count_params_and_flops_inplace(copy_graph(g), dims)
        assert got.to_json() == want.to_json()
        assert list(got.groups) == list(want.groups)


@pytest.mark.parametrize("tied", [False, True])
def test_fold_totals_equal_param_totals_over_the_folded_blocks(tied):
    """A fold's params_total / trainable_params_total are param_totals over every block's
    weights: summed by columns when each block holds its own weights, by rows (each name
    once) when blocks share one (tied)."""
    b = Builder()
    x = b.input((1, 8))
    shared = Param("tied.w", (8, 8), "float32")
    for i in range(4):
        x = b.op("MatMul", "linear", [x], ("layers", str(i)), [("w", (8, 8))])
        node = b.g.nodes[list(b.g.nodes)[-1]]
        node.params.append(Param(f"frozen{i}", (2, 8), "float32", trainable=False))
        node.params.append(Param(f"stat{i}", (8,), "float32", role="buffer"))
        if tied:
            node.params.append(shared)
        x = b.op("Relu", "activation", [x], ("layers", str(i)))
    b.output(x)
    want = param_totals(p for n in b.g.nodes.values() for p in n.params)
    g = fold_repeats(annotate(b.g), True)
    (grp,) = [grp for grp in g.groups.values() if grp.attrs.get("repeat")]
    assert grp.attrs["repeat"] == 4
    assert grp.attrs["params_total"] == want["params"] == 4 * (64 + 16) + (64 if tied else 0)
    assert grp.attrs["trainable_params_total"] == want["trainable_params"]


def test_annotate_collects_the_groups_fold_reads_when_node_order_is_topological():
    """annotate's counting walk collects each group's first node and members as fold's
    _children computes them, when the node order is the topological one (else nothing)."""
    from nnviz.passes import _annotate
    from nnviz.passes.fold import _children, _nest

    rng = random.Random(23)
    seen = {True: 0, False: 0}
    for _ in range(200):
        g = _count_graph(rng)
        if rng.random() < 0.3:  # list a node before its producer: not in topological order
            items = list(g.nodes.items())
            i = rng.randrange(len(items))
            items.insert(0, items.pop(i))
            g.nodes = dict(items)
        annotated, order, layout = _annotate(g, None, collect=True)
        seen[layout is not None] += 1
        if layout is not None:
            assert order == list(annotated.nodes)
            assert _nest(*layout) == _children(annotated, order)
    assert seen[True] and seen[False]
