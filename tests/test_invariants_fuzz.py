"""The fidelity invariants (tests/zoo/invariants.py) on random module-structured graphs.

Graphs are generated the way models are written: a module's body is a sequence of ops, skip
connections (``x = x + f(x)``), calls of child modules (one module called several times: each
call its own group, the weights shared), and stacks of identical numbered blocks
(``layer.0`` .. ``layer.k``) that the fold pass may fold. Every group is then a module call, so
the operator graph is feed-forward and convex by construction, and every view nnviz makes of
it (depth, fold, collapse, hide-noise) must be a quotient of it with the totals unchanged.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from zoo.invariants import (
    check_box_params,
    check_layout,
    check_noise,
    check_operator_graph,
    check_view,
    correspondence,
)

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.kinds import kind_for
from nnviz.layout import layout
from nnviz.passes import ViewOptions, annotate, prepare
from nnviz.passes.noise import hide_noise

OPS = ["Gemm", "Relu", "LayerNormalization", "Conv", "Reshape", "Transpose", "Mul", "Softmax",
       "Cast", "Tanh"]
WEIGHTED = {"Gemm", "Conv", "LayerNormalization"}

# A spec is a list of steps: ("op", OP) | ("skip", k) | ("call", spec, calls) |
# ("stack", spec, blocks); nesting is at most three modules deep so graphs stay small.
OP_STEP = st.tuples(st.just("op"), st.sampled_from(OPS))
SKIP_STEP = st.tuples(st.just("skip"), st.integers(0, 3))


def _body(inner: st.SearchStrategy | None, size: int, block_min: int = 1,
          op_step: st.SearchStrategy = OP_STEP) -> st.SearchStrategy:
    choices = [op_step, op_step, SKIP_STEP]
    if inner is not None:
        blocks = inner.filter(lambda b: len(b) >= block_min)
        choices += [st.tuples(st.just("call"), inner, st.integers(1, 3)),
                    st.tuples(st.just("stack"), blocks, st.integers(2, 4))]
    return st.lists(st.one_of(*choices), min_size=1, max_size=size)


specs = _body(_body(_body(None, 3), 3), 5)
# Blocks of two ops or more, none of them plumbing (which hide-noise would splice out of a
# block): folds of real multi-op blocks get a test of their own.
_REAL_OP = st.tuples(st.just("op"), st.sampled_from(
    [op for op in OPS if op not in ("Reshape", "Transpose", "Cast")]))
specs_multi_op_blocks = _body(_body(_body(None, 3, op_step=_REAL_OP), 3, 2, _REAL_OP), 5, 2,
                              _REAL_OP)


def realize(spec: list) -> tuple[Graph, int]:
    """The graph of a spec and its parameter count (shared weights once)."""
    g = Graph("random")
    g.add_tensor(Tensor("x", (1, 8)))
    g.add_node(Node("in", "Input", "io", outputs=["x"]))
    g.inputs = ["x"]
    counter = [0]
    weights: dict[str, int] = {}

    def op(kind_op: str, inputs: list[str], path: tuple, wname: str | None) -> str:
        counter[0] += 1
        out = f"t{counter[0]}"
        g.add_tensor(Tensor(out, (1, 8)))
        params = []
        if wname is not None:
            params = [Param(wname, (8, 8))]
            weights[wname] = 64
        if path:
            g.ensure_group(path)
        g.add_node(Node(f"n{counter[0]}", kind_op, kind_for(kind_op), name=f"n{counter[0]}",
                        inputs=inputs, outputs=[out], params=params, group=path))
        return out

    def run(steps: list, path: tuple, defpath: str, value: str) -> str:
        seen = [value]
        for i, s in enumerate(steps):
            if s[0] == "op":
                w = f"{defpath}.{i}.w" if s[1] in WEIGHTED else None
                value = op(s[1], [value], path, w)
            elif s[0] == "skip":
                value = op("Add", [value, seen[-1 - s[1] % len(seen)]], path, None)
            elif s[0] == "call":  # one module, called s[2] times: its weights shared
                for c in range(s[2]):
                    name = f"m{i}" if c == 0 else f"m{i}@{c}"
                    value = run(s[1], path + (name,), f"{defpath}.m{i}", value)
            else:  # a stack of identical numbered blocks, own weights each
                for b in range(s[2]):
                    value = run(s[1], path + (f"s{i}", str(b)), f"{defpath}.s{i}.{b}", value)
            seen.append(value)
        return value

    out = run(spec, (), "root", "x")
    g.add_node(Node("out", "Output", "io", inputs=[out]))
    g.outputs = [out]
    return g, sum(weights.values())


VIEW = st.builds(ViewOptions, depth=st.one_of(st.none(), st.integers(0, 4)),
                 fold=st.one_of(st.none(), st.booleans()), hide_noise=st.booleans())
# Minimal graphs hypothesis found (kept as explicit examples so every run checks them):
ONE_OP_STACK = [("stack", [("op", "Gemm")], 2)]  # s0/0, s0/1: one Gemm each
STACK_IN_MODULE = [("call", [("op", "Gemm"), ("stack", [("op", "Gemm")], 2)], 1)]

LONG = bool(os.environ.get("NNVIZ_FUZZ_LONG"))
# CI: a fixed sample without shrinking (a failure is reported as found; NNVIZ_FUZZ_LONG=1 runs
# more examples and shrinks them to a minimal model).
SETTINGS = dict(max_examples=400 if LONG else 60, deadline=None, derandomize=True,
                phases=tuple(Phase) if LONG else (Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _views(g: Graph, opts: ViewOptions):
    ann = annotate(g)
    ref = hide_noise(ann) if opts.hide_noise else ann
    view = prepare(g, opts)
    return ann, ref, view


@settings(**SETTINGS)
@given(specs, VIEW)
@example(ONE_OP_STACK, ViewOptions(depth=0, fold=True))
@example(ONE_OP_STACK, ViewOptions(depth=1, fold=True))
@example(STACK_IN_MODULE, ViewOptions(depth=1, fold=True))
def test_random_views_are_quotients(spec, opts):
    g, _ = realize(spec)
    assert check_operator_graph(g) == []  # the generator's own promise
    ann, ref, view = _views(g, opts)
    assert check_noise(ann, hide_noise(ann)) == []
    corr = correspondence(ref, view)
    assert check_view(ref, view, True, corr) == []
    if len(view.nodes) <= 80:
        assert check_layout(view, layout(view)) == []


@settings(**SETTINGS)
@given(specs, VIEW)
@example(STACK_IN_MODULE, ViewOptions(depth=0, fold=True))
def test_random_views_keep_every_box_total(spec, opts):
    g, _ = realize(spec)
    _, ref, view = _views(g, opts)
    assert check_box_params(ref, view) == []


@settings(**SETTINGS)
@given(specs, VIEW)
@example(ONE_OP_STACK, ViewOptions(fold=True))
def test_random_views_keep_the_total(spec, opts):
    g, expected = realize(spec)
    _, _, view = _views(g, opts)
    assert g.total_params == expected
    assert (view.meta["params"], view.total_params) == (expected, expected)


@settings(**SETTINGS)
@given(specs, st.builds(ViewOptions, depth=st.one_of(st.none(), st.integers(0, 4)),
                        fold=st.just(False), hide_noise=st.booleans()))
def test_random_unfolded_views_are_quotients_with_every_total(spec, opts):
    """Without folding (no known bug there) everything is checked today, boxes included."""
    g, expected = realize(spec)
    ann, ref, view = _views(g, opts)
    corr = correspondence(ref, view)
    assert check_view(ref, view, True, corr) == []
    assert check_box_params(ref, view, corr) == []
    assert (view.meta["params"], view.total_params) == (expected, expected)
    if len(view.nodes) <= 80:
        assert check_layout(view, layout(view)) == []


@settings(**SETTINGS)
@given(specs_multi_op_blocks, VIEW)
def test_random_views_of_multi_op_blocks_are_quotients(spec, opts):
    g, _ = realize(spec)
    _, ref, view = _views(g, opts)
    assert check_view(ref, view, True, correspondence(ref, view)) == []
    if len(view.nodes) <= 80:
        assert check_layout(view, layout(view)) == []
