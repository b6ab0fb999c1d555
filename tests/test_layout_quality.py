"""Layout quality regressions of the layered engine (issue 4): staircases, stub colours,
edges through boxes, wasted canvas."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from nnviz.ir import Graph, Node, Tensor
from nnviz.layout import layout
from nnviz.theme import load_theme

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_layout import (  # noqa: E402
    assert_edges_avoid_boxes,
    assert_edges_on_borders,
    assert_no_overlap,
)

from bench.graphs import transformer  # noqa: E402

THEME = load_theme()


def _block_stack(blocks: int) -> Graph:
    """A stack of collapsed blocks where the first block's second output (an attention mask,
    as torch exports of nn.MultiheadAttention produce) feeds every later block: every block
    has two inputs, the trunk and the mask (drawn as a stub)."""
    g = Graph("stack")
    g.add_tensor(Tensor("x0"))
    g.add_node(Node("in", "Input", "io", "idx", outputs=["x0"]))
    g.add_tensor(Tensor("x1"))
    g.add_tensor(Tensor("mask"))
    g.add_node(Node("h0", "Block", "group", "h.0", inputs=["x0"], outputs=["x1", "mask"]))
    prev = "x1"
    for i in range(1, blocks):
        out = f"x{i + 1}"
        g.add_tensor(Tensor(out))
        g.add_node(Node(f"h{i}", "Block", "group", f"h.{i}", inputs=[prev, "mask"],
                        outputs=[out]))
        prev = out
    g.add_node(Node("out", "Output", "io", "logits", inputs=[prev]))
    return g


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_stubs_do_not_push_the_trunk(direction: str) -> None:
    g = _block_stack(14)
    lay = layout(g, theme=THEME, direction=direction)
    stubs = [b for b in lay.nodes.values() if b.shape == "stub"]
    assert len(stubs) == 12
    across = (lambda b: b.cx) if direction == "TB" else (lambda b: b.cy)
    trunk = [across(lay.nodes[f"h{i}"]) for i in range(14)]
    assert max(trunk) - min(trunk) < 0.5, trunk  # one straight line, no staircase
    for i in range(2, 14):  # each stub sits right beside its consumer, on one side
        s, c = lay.nodes[f"h0::stub::h{i}"], lay.nodes[f"h{i}"]
        assert across(s) > across(c)
    assert len({round(across(s), 2) for s in stubs}) == 1
    assert_no_overlap(lay)
    assert_edges_on_borders(lay)
    assert_edges_avoid_boxes(lay)


def test_stub_heavy_transformer_keeps_its_residual_stream_straight() -> None:
    g = transformer(220, grouped=False)  # 7 blocks, one mask feeding every block
    lay = layout(g, theme=THEME)
    assert sum(b.shape == "stub" for b in lay.nodes.values()) == 6
    xs = [lay.nodes[n.id].cx for n in g.nodes.values() if n.name.startswith("residual")]
    # all blocks but the last (whose output branch changes the order) line up
    assert max(xs[:-2]) - min(xs[:-2]) < 0.5, xs
    assert_no_overlap(lay)
    assert_edges_avoid_boxes(lay)


def test_stub_wears_its_source_kind_colour() -> None:
    from nnviz.render.build import build_scene
    from nnviz.render.scene import Rect

    g = _block_stack(10)
    g.nodes["h0"].kind = "attention"  # the mask comes out of an attention block
    lay = layout(g, theme=THEME)
    scene = build_scene(g, lay, THEME)
    stubs = [(data, items) for cls, data, items in scene.layers
             if cls == "node" and "::stub::" in data["id"]]
    assert len(stubs) == 8
    want = THEME.kind_style("attention")
    assert want["fill"] != THEME.kind_style("group")["fill"]
    for data, items in stubs:
        rect = next(it for it in items if isinstance(it, Rect))
        assert data["kind"] == "attention"
        assert (rect.fill, rect.stroke) == (want["fill"], want["stroke"])


def _inside(pts: np.ndarray, x: float, y: float, w: float, h: float) -> bool:
    return bool(((pts[:, 0] > x + 0.5) & (pts[:, 0] < x + w - 0.5)
                 & (pts[:, 1] > y + 0.5) & (pts[:, 1] < y + h - 0.5)).any())


def _fine_sample(e) -> np.ndarray:
    pts = np.array(e.points, dtype=float)
    t = np.linspace(0, 1, 60)[:, None]
    if not e.spline:
        return np.concatenate([a + t * (b - a) for a, b in zip(pts, pts[1:])])
    return np.concatenate([(1 - t) ** 3 * p0 + 3 * t * (1 - t) ** 2 * p1
                           + 3 * t ** 2 * (1 - t) * p2 + t ** 3 * p3
                           for p0, p1, p2, p3 in (pts[i:i + 4] for i in range(0, len(pts) - 1, 3))])


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_keras_resnet_mini_edges_clear_boxes_and_canvas_is_tight(direction: str) -> None:
    import nnviz  # (the .keras loader reads the archive itself: keras is not needed)
    from nnviz.text import line_height

    dr = nnviz.draw(REPO / "examples" / "keras_resnet_mini.keras", direction=direction)
    lay, g = dr.layout, dr.graph
    assert lay.groups and len(lay.edges) >= 25
    for e in lay.edges:  # no skip edge cuts a box, or a frame it does not belong to
        s = _fine_sample(e)
        for b in lay.nodes.values():
            if b.id not in (e.src, e.dst):
                assert not _inside(s, b.x, b.y, b.w, b.h), (e.src, e.dst, b.id)
        for f in lay.groups:
            mine = [g.nodes[n].group[:len(f.path)] == f.path for n in (e.src, e.dst)]
            if not any(mine):
                assert not _inside(s, f.x, f.y, f.w, f.h), (e.src, e.dst, f.path)
    # the canvas is the content plus the margin, on every side
    margin = float(THEME["spacing"]["margin"])
    rects = [(b.x, b.y, b.x + b.w, b.y + b.h) for b in lay.nodes.values()]
    rects += [(f.x, f.y, f.x + f.w, f.y + f.h) for f in lay.groups]
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[2] for r in rects), max(r[3] for r in rects)
    assert (x0, y0) == pytest.approx((margin, margin), abs=0.6)
    assert (lay.width - x1, lay.height - y1) == pytest.approx((margin, margin), abs=0.6)
    # frames hug their members: padding, a skip-edge lane; on the label side the label band
    # and, where entering edges bend, a layer gap below it (they bend clear of the title)
    pad = float(THEME["group"]["padding"])
    band = line_height(float(THEME["group"]["label_size"])) + 10  # (engine.solve_levels)
    label_side = 1 if direction == "TB" else 0
    for f in lay.groups:
        ms = [lay.nodes[n.id] for n in g.nodes.values() if n.group[:len(f.path)] == f.path]
        gaps = (min(b.x for b in ms) - f.x, min(b.y for b in ms) - f.y,
                f.x + f.w - max(b.x + b.w for b in ms), f.y + f.h - max(b.y + b.h for b in ms))
        assert min(gaps) >= pad - 0.6, (f.path, gaps)
        for side, gap in enumerate(gaps):
            if side == label_side:
                assert gap <= band + float(THEME["spacing"]["rank_sep"]) + 0.6, (f.path, gaps)
            else:
                assert gap <= pad + 30, (f.path, gaps)


def test_second_ordering_start_untangles_the_mask_without_stubs() -> None:
    """Drawn without stubs, the shared mask of a 6-block GPT reaches every block; one DFS
    start leaves one crossing per block, the second start (skip edges on the far side) none."""
    from bench.metrics import metrics
    from nnviz.layout.layered.engine import layout_layered

    g = transformer(200, grouped=False)
    lay = layout_layered(g, THEME, aux=False)
    assert not any(b.shape == "stub" for b in lay.nodes.values())
    assert metrics(lay)["crossings"] == 0
    assert_no_overlap(lay)
    assert_edges_avoid_boxes(lay)


def test_residual_stream_stays_an_edge_while_per_layer_tables_become_stubs() -> None:
    """The hidden state read by a norm (Pow, Div) and, far below, by the residual Add is the
    skip connection: drawn as an edge. Mask, position ids, rotary tables read by every
    layer become stubs."""
    from bench.viewer_model import transformer as llm

    g = llm(layers=4, plumbing=1)
    lay = layout(g, theme=THEME)
    stub_src = {b.id.split("::stub::")[0] for b in lay.nodes.values() if b.shape == "stub"}
    assert stub_src
    residual = [n for n in g.nodes.values()
                if n.op == "Add" and len(n.group) == 2 and n.group[1].startswith("layers.")]
    assert len(residual) == 8
    for n in residual:
        for t in n.inputs:
            src = next(m.id for m in g.nodes.values() if t in m.outputs)
            assert f"{src}::stub::{n.id}" not in lay.nodes, (src, n.id)
    for sid in stub_src:  # what stays a stub is read by every layer
        out = set(g.nodes[sid].outputs)
        assert sum(1 for m in g.nodes.values() if out & set(m.inputs)) >= 4, sid
    xs = [lay.nodes[n.id].cx for n in residual[2:]]
    assert max(xs) - min(xs) < 0.5, xs
    assert_no_overlap(lay)


@pytest.mark.parametrize("n", [500, pytest.param(2000, marks=pytest.mark.slow)])
def test_whole_long_edges_cross_the_trunk_without_stubs(n: int) -> None:
    """Past the second-start limit (16 / 66 crossings before: each block's residual edge ran
    right of the trunk where the mask's edges had to cross it), moving whole long edges
    across the trunk leaves none — ELK leaves 6 / 21 on the same graphs."""
    from bench.metrics import metrics
    from nnviz.layout.layered.engine import layout_layered

    g = transformer(n, grouped=False)
    lay = layout_layered(g, THEME, aux=False)
    assert metrics(lay)["crossings"] == 0
    assert_no_overlap(lay)


def test_deep_stack_of_forking_blocks_keeps_one_straight_trunk() -> None:
    """Drawn flat, a stack of transformer-like blocks (a 3-way q/k/v fork and joins in each)
    had its trunk move sideways at every block when the four Brandes-Koepf passes picked
    different branches: a 24-block GPT-2 export was 3,400 px wide. The longest path of boxes
    is aligned first in all passes, so the residual Adds stay in one column."""
    from nnviz.layout.layered.engine import layout_layered

    g = transformer(700, grouped=False)
    lay = layout_layered(g, THEME, aux=False)
    adds = [b.cx for k, b in lay.nodes.items() if g.nodes[k].name.startswith("residual")]
    assert len(adds) >= 40
    assert max(adds) - min(adds) < 1.0, sorted(set(round(a) for a in adds))
    assert lay.width < 1000


def _side_graph_model(chain: int = 12) -> Graph:
    """A main chain of ``chain`` ops. Op 3 also reads one side graph, op 7 two (an LSTM's
    input and recurrent weights): four wide weight slices joined by a Concat each; op 9
    reads a position computation (two sources, then a chain of six ops)."""
    g = Graph("side")
    g.add_tensor(Tensor("x0"))
    g.add_node(Node("in", "Input", "io", outputs=["x0"]))
    for i in range(chain):
        ins = [f"x{i}"]
        for grp in {3: ("a",), 7: ("b", "c")}.get(i, ()):
            for k in range(4):
                g.add_tensor(Tensor(f"w{grp}{k}"))
                g.add_node(Node(f"slice_{grp}{k}", "Slice", "reshape", outputs=[f"w{grp}{k}"],
                                name=f"a_rather_long_weight_slice_name_{grp}{k}"))
            g.add_tensor(Tensor(f"cat_{grp}"))
            g.add_node(Node(f"concat_{grp}", "Concat", "reshape",
                            inputs=[f"w{grp}{k}" for k in range(4)], outputs=[f"cat_{grp}"]))
            ins.append(f"cat_{grp}")
        if i == 9:
            for t in ("p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"):
                g.add_tensor(Tensor(t))
            g.add_node(Node("arange0", "Range", "other", outputs=["p0"]))
            g.add_node(Node("arange1", "Range", "other", outputs=["p1"]))
            g.add_node(Node("sub", "Sub", "elementwise", inputs=["p0", "p1"], outputs=["p2"]))
            for k in range(2, 7):
                g.add_node(Node(f"pos{k}", "Abs", "elementwise", inputs=[f"p{k}"],
                                outputs=[f"p{k + 1}"]))
            ins.append("p7")
        g.add_tensor(Tensor(f"x{i + 1}"))
        g.add_node(Node(f"op{i}", "Relu", "activation", inputs=ins, outputs=[f"x{i + 1}"]))
    return g


def test_side_graphs_hang_above_their_consumer_and_stack(monkeypatch) -> None:
    """What no main source reaches hangs right above where it is consumed (a position
    computation does not stand at the top beside the input); side graphs hanging side by
    side in the widest layer are lifted only when that solves the level better (fewer
    crossings, then less area) than leaving them there."""
    from nnviz.layout.layered import level_rank
    from nnviz.layout.layered.engine import layout_layered

    g = _side_graph_model()
    lay = layout_layered(g, THEME)
    assert_no_overlap(lay)
    n = lay.nodes
    # the position chain ends right above its consumer, its sources not at the top
    assert n["pos6"].y + n["pos6"].h < n["op9"].y < n["pos6"].y + n["pos6"].h + 60
    assert n["arange0"].y > n["op1"].y
    lifts = []
    real = level_rank.settle_side_graphs

    def spy(*args, **kwargs):
        lifts.append(real(*args, **kwargs))
        return lifts[-1]

    monkeypatch.setattr(level_rank, "settle_side_graphs", spy)
    assert layout_layered(g, THEME).to_json() == lay.to_json()
    assert lifts == [True]  # the two groups that feed op 7 were tried in two rows
    monkeypatch.setattr(level_rank, "settle_side_graphs", lambda *a, **k: False)
    flat = layout_layered(g, THEME)
    assert lay.width * lay.height <= flat.width * flat.height


def test_stub_takes_the_side_where_its_edge_crosses_nothing() -> None:
    """A stub whose consumer is blocked by a box and, just right of it, a residual edge
    passing by: the right side is nearer, but a stub there would cross the residual edge to
    reach its consumer, so it goes left (GPT-2 .pt2 drawn flat: 2 crossings fewer)."""
    from nnviz.layout.layered.position import _place_free

    # layer 0: m (a box feeding u), r (the residual edge's dummy), s (the free stub of u)
    # layer 1: u (the stub's consumer), r2 (the residual edge, further down)
    layers = [[0, 1, 2], [3, 4]]
    up = [[], [], [], [0, 2], [1]]
    down = [[3], [4], [3], [], []]
    x = [-10.0, 60.0, 0.0, 0.0, 60.0]
    width = [80.0, 0.0, 40.0, 40.0, 0.0]
    free = [False, False, True, False, False]
    dummy = [False, True, False, False, True]
    _place_free(layers, free, x, [0.0, 0.0, 0.0, 0.0, 0.0], width, dummy, 24.0, 8.0, up, down)
    assert x[2] == -94.0  # left of m: its edge to u crosses neither m's nor the residual's
    # without the residual edge the nearer side (right) is free of crossings and is taken
    x2 = [-10.0, 60.0, 0.0, 0.0, 60.0]
    _place_free([[0, 2], [3]], free, x2, [0.0] * 5, width, dummy, 24.0, 8.0,
                [[], [], [], [0, 2], []], [[3], [], [3], [], []])
    assert x2[2] == 74.0


def test_ordering_tries_a_start_from_the_sinks() -> None:
    """Sweeps from the sources' DFS orders keep one crossing on this small layered graph
    (a source's DFS reaches shared consumers in the wrong order); the start from the sinks
    up has none. On GPT-2 .pt2 drawn flat the same start puts the causal mask's index
    chains beside the position ids they share (16 -> 8 crossings, as ELK)."""
    from nnviz.layout.layered.dummies import Proper
    from nnviz.layout.layered.ordering import count_crossings, order_level

    layer = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    edges = [(0, 5), (1, 4), (2, 5), (2, 6), (3, 6), (4, 7), (5, 7), (5, 8), (6, 7)]
    up: list[list[int]] = [[] for _ in layer]
    down: list[list[int]] = [[] for _ in layer]
    for a, b in edges:
        down[a].append(b)
        up[b].append(a)
    pg = Proper(layer, [40.0] * 9, [20.0] * 9, [False] * 9, up, down,
                [[(0.0, 0.0)] * len(u) for u in up], [[(0.0, 0.0)] * len(d) for d in down],
                list(range(9)), [], [], [])
    layers = order_level(pg, [0, 1, 2, 3], 3, False)
    pos = [0.0] * 9
    for ly in layers:
        for i, v in enumerate(ly):
            pos[v] = float(i)
    assert sorted(v for ly in layers for v in ly) == list(range(9))
    assert count_crossings(layers, up, pos) == 0


def test_compaction_narrows_a_level_held_wide_by_a_long_edge() -> None:
    """A long edge is one rigid column in Brandes-Koepf: here it carries the width of the
    wide box beside its source down to a layer where a box stands right of it (Llama .pt2
    drawn flat: 2,116 px where its widest layer needs 1,052). Compaction lets the long edge
    bend between its dummies and packs the level to the width its boxes need; straight edges
    between boxes stay straight, every layer keeps its order and its separations."""
    from nnviz.layout.layered.position import compact

    # layer 0: p (wide), q (source of the long edge q -> r)
    # layer 1: d1 (dummy), a (below p); layer 2: a2 (below a), d2 (dummy), z (a box)
    # layer 3: b (below a2), r
    layers = [[0, 1], [4, 2], [5, 3, 6], [7, 8]]
    edges = [(1, 2), (2, 3), (3, 8), (0, 4), (4, 5), (5, 7)]
    n = 9
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        down[a].append(b)
        up[b].append(a)
    up_off = [[(0.0, 0.0)] * len(u) for u in up]
    width = [200.0, 40.0, 0.0, 0.0, 40.0, 40.0, 40.0, 40.0, 40.0]
    dummy = [False, False, True, True, False, False, False, False, False]
    # as the four alignments leave it: q's edge one column at 144, z right of it
    x = [0.0, 144.0, 144.0, 144.0, 0.0, 0.0, 174.0, 0.0, 144.0]
    before = list(x)

    def span(xs: list[float]) -> float:
        return (max(xs[v] + width[v] / 2 for v in range(n))
                - min(xs[v] - width[v] / 2 for v in range(n)))

    compact(layers, x, width, dummy, dummy, up, down, up_off, 24.0, 10.0)
    assert span(before) == 294.0
    assert span(x) == 264.0  # what layer 0 needs: 200 + 24 + 40
    for layer in layers:
        for p, q in zip(layer, layer[1:]):
            gap = 10.0 if dummy[p] or dummy[q] else 24.0
            assert x[q] - x[p] >= (width[p] + width[q]) / 2 + gap - 1e-9
    for a, b in edges:
        if not (dummy[a] or dummy[b]):
            assert x[a] == x[b]  # box to box: the straight edges stay straight
    assert len({x[1], x[2], x[3], x[8]}) == 2  # the long edge: two vertical pieces
    # a level already as narrow as its boxes allow is left exactly as it was
    tight = list(x)
    compact(layers, tight, width, dummy, dummy, up, down, up_off, 24.0, 10.0)
    assert tight == x


def _resnet_tail() -> Graph:
    """A ResNet's last downsample block and head: the conv path is the trunk, the downsample
    conv stands beside it, and the global pooling below is wider than any trunk box."""
    g = Graph("tail")
    chain = [("in", "Input", "io", ""), ("conv1", "Conv", "conv", "a"),
             ("relu", "Relu", "activation", "b"), ("conv2", "Conv", "conv", "c"),
             ("add", "Add", "elementwise", "d"),
             ("gap", "GlobalAveragePool", "pool", "global average pooling of the features"),
             ("fc", "Gemm", "linear", "fc"), ("out", "Output", "io", "")]
    prev = None
    for name, op, kind, label in chain:
        ins = [prev] if prev else []
        if name == "add":
            ins.append("t_ds")
        g.add_tensor(Tensor(f"t_{name}"))
        g.add_node(Node(name, op, kind, label, inputs=ins, outputs=[f"t_{name}"]))
        prev = f"t_{name}"
    g.add_tensor(Tensor("t_ds"))
    g.add_node(Node("ds", "Conv", "conv", "downsample", inputs=["t_in"], outputs=["t_ds"]))
    return g


def test_wide_box_slides_under_the_trunk_with_its_edge_straight(monkeypatch) -> None:
    """A box wider than the trunk box feeding it may sit off-centre under it, the edge still
    straight down into it: ResNet-18's global pooling no longer sticks out on the side
    opposite the downsample branch (ResNet-18 drawn flat 248 -> 224 px wide, ELK 225)."""
    from nnviz.layout.layered import level

    g = _resnet_tail()
    lay = layout(g)
    assert_no_overlap(lay)
    assert_edges_on_borders(lay)
    assert_edges_avoid_boxes(lay)
    add, gap = lay.nodes["add"], lay.nodes["gap"]
    edge = next(e for e in lay.edges if (e.src, e.dst) == ("add", "gap"))
    xs = {round(p[0], 2) for p in edge.points}
    assert len(xs) == 1  # straight down ...
    assert abs(gap.x + gap.w / 2 - (add.x + add.w / 2)) > 1  # ... into a box off-centre
    assert gap.x <= next(iter(xs)) <= gap.x + gap.w
    for a, b in [("in", "conv1"), ("conv1", "relu"), ("relu", "conv2"), ("conv2", "add")]:
        assert lay.nodes[a].x + lay.nodes[a].w / 2 == lay.nodes[b].x + lay.nodes[b].w / 2
    orig = level.assign_x
    monkeypatch.setattr(level, "assign_x", lambda *a: orig(*a[:-1], None))
    centred = layout(g)
    assert lay.width < centred.width
