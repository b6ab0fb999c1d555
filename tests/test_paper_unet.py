"""UNet paper figures (issue 17): the skips land where the skip tensor enters the decoder
(the concatenation and the decoder conv it feeds), and every arc is an edge of the view."""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

torch = pytest.importorskip("torch", reason="the torch extra builds the real models")

from test_paper_honesty import check_arcs_are_edges, view_of  # noqa: E402

from nnviz.layout import layout  # noqa: E402
from nnviz.theme import load_theme  # noqa: E402

THEME = load_theme("paper")


@pytest.fixture(scope="module")
def graphs() -> dict:
    return {}


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_unet_skips_land_on_the_decoder_conv(graphs, direction: str) -> None:
    g = view_of(graphs, "unet", "default")
    lay = layout(g, theme=THEME, style="blocks", direction=direction)
    check_arcs_are_edges(g, lay)
    succ = g.successors()
    skips = lay.extras["skips"]
    assert len(skips) == 4
    for s in skips:
        ((u, v),) = s["edges"]
        assert g.nodes[v].op == "torch.cat" and u == s["src"]
        # the box the arc lands on is the decoder conv the concatenation feeds, not the
        # ConvTranspose2d whose output is the concatenation's other input
        assert s["dst"] in succ[v] and g.nodes[s["dst"]].op == "DoubleConv", s["dst"]


# ---- the U ------------------------------------------------------------------------------

def spatial(g, nid: str) -> tuple:
    return tuple(g.tensors[g.nodes[nid].outputs[0]].shape[-2:])


def segments(points: list) -> list[tuple]:
    return [(tuple(p), tuple(q)) for p, q in zip(points, points[1:])]


def cross(s: tuple, t: tuple) -> bool:
    """Do two segments properly intersect or overlap (touching at a shared end is fine)?"""
    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    (p1, p2), (q1, q2) = s, t
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    if d1 == d2 == 0:  # collinear: overlapping for more than a point
        axis = 0 if p1[0] != p2[0] else 1
        lo = max(min(p1[axis], p2[axis]), min(q1[axis], q2[axis]))
        hi = min(max(p1[axis], p2[axis]), max(q1[axis], q2[axis]))
        return hi - lo > 0.5
    return False


class Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float


def hits_box(seg: tuple, box) -> bool:
    """Does an axis-parallel segment run through the inside of a box (1 px margin)?"""
    (x0, y0), (x1, y1) = seg
    bx0, by0, bx1, by1 = box.x + 1, box.y + 1, box.x + box.w - 1, box.y + box.h - 1
    return min(x0, x1) < bx1 and max(x0, x1) > bx0 and min(y0, y1) < by1 and max(y0, y1) > by0


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_unet_is_drawn_as_a_u(graphs, direction: str) -> None:
    """The U comes from the graph: the arms hold the encoder and decoder stages, paired by
    equal spatial size at every level, the bottleneck at the bottom."""
    g = view_of(graphs, "unet", "default")
    lay = layout(g, theme=THEME, style="blocks", direction=direction)
    u = lay.extras["ushape"]
    arm, level = u["arm"], u["level"]
    assert [n for n in g.nodes if arm.get(n) == "bottom"] == ["pool@3", "group:downs.3"]
    assert {n for n, a in arm.items() if a == "up"} == {
        "ups.0", "ups.1", "ups.2", "ups.3", "group:dec.0", "group:dec.1", "group:dec.2",
        "group:dec.3", "outc"}
    for k in range(4):  # each level: every box of both arms has one spatial size
        down = {spatial(g, n) for n in level if level[n] == k and arm[n] == "down"}
        up = {spatial(g, n) for n in level if level[n] == k and arm[n] == "up"}
        assert len(down) == 1 and down == up, (k, down, up)
    sizes = [spatial(g, n) for n in level if level[n] == 4]
    assert all(s[0] < 8 for s in sizes)  # the bottleneck is the coarsest
    boxes = lay.nodes

    def mid(nid: str) -> tuple[float, float]:
        b = boxes[nid]
        return (b.x + b.w / 2, b.y + b.h / 2)

    for s in lay.extras["skips"]:
        a, b = s["src"], s["dst"]
        assert level[a] == level[b] and arm[a] == "down" and arm[b] == "up"
        assert spatial(g, a) == spatial(g, s["edges"][0][1])  # the concat it joins
        # the encoder arm is on the left, the decoder on the right, at the same height
        assert mid(a)[0] < mid(b)[0]
        if direction == "TB":
            (p, q) = s["points"]
            # one straight arrow across the U
            assert p[1] == q[1] and boxes[a].x < p[0] < q[0] <= boxes[b].x
        else:
            assert abs(mid(a)[1] - mid(b)[1]) < 1.0  # the same row
    # down the encoder, up the decoder, the bottleneck's end below every decoder box
    order = list(lay.nodes)
    downs = [mid(n)[1] for n in order if arm[n] != "up"]
    ups = [mid(n)[1] for n in order if arm[n] == "up"]
    assert downs == sorted(downs) and ups == sorted(ups, reverse=True)
    assert mid("group:downs.3")[1] > max(ups)
    if direction == "TB":  # the bottleneck centred between the arms, not under the encoder
        front = {b["id"]: float(b["x"]) + float(b["w"]) / 2 for b in lay.extras["blocks"]}
        left, right = front["group:downs.2"], front["group:dec.0"]
        for n in ("pool@3", "group:downs.3"):
            assert abs(front[n] - (left + right) / 2) < 1.0, n


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_u_arrows_cross_nothing(graphs, direction: str) -> None:
    """No skip arrow crosses another arrow or runs through a box; no label overlaps another
    or leaves the canvas."""
    from test_paper import assert_inside, assert_no_overlap, text_boxes

    from nnviz.render.build import build_scene

    g = view_of(graphs, "unet", "default")
    lay = layout(g, theme=THEME, style="blocks", direction=direction)
    skips = [segments(s["points"]) for s in lay.extras["skips"]]
    flows = [segments(e.points) for e in lay.edges if e.tensor]
    assert len(flows) == len(lay.nodes) - 1
    for i, arc in enumerate(skips):
        for other in skips[i + 1:] + flows:
            assert not any(cross(s, t) for s in arc for t in other), (arc, other)
        ends = {lay.extras["skips"][i]["src"], lay.extras["skips"][i]["dst"]}
        for nid, box in lay.nodes.items():
            if nid not in ends:
                assert not any(hits_box(s, box) for s in arc), (nid, arc)
    for i, a in enumerate(flows):  # the flow's own arrows do not cross either
        for b in flows[i + 1:]:
            assert not any(cross(s, t) for s in a for t in b), (a, b)
    scene = build_scene(g, lay, THEME)
    texts = text_boxes(scene)
    assert_no_overlap(texts)
    assert_inside(texts, lay.width + 0.01, lay.height + 0.01)
    for seg in (s for f in flows + skips for s in f):  # no arrow runs through a label
        assert not any(hits_box(seg, Box(t[0] - 1, t[1] - 1, t[2] - t[0] + 2, t[3] - t[1] + 2))
                       for t in texts), seg


def test_the_u_is_read_from_the_graph_not_the_name() -> None:
    """find_u on hand-made paths: nested skips between equal sizes with a coarser middle are
    a U; chained skips (ResNet), equal sizes everywhere, or a skip between different sizes
    are not."""
    from nnviz.ir import Node
    from nnviz.layout.paper_path import PaperPath, Skip, Unit
    from nnviz.layout.ushape import find_u

    def path(n: int, skips: list[tuple[int, int]]) -> PaperPath:
        return PaperPath([Unit(Node(f"n{i}", "Conv", "conv")) for i in range(n)],
                         [Skip(a, b) for a, b in skips])

    #       0   1   2   3   4   5   6   7   8
    sizes = [64, 64, 32, 32, 16, 32, 32, 64, 64]
    hw = [(s, s) for s in sizes]
    u = find_u(path(9, [(1, 7), (3, 5)]), hw)
    assert u is not None and u.level == [0, 0, 1, 1, 2, 1, 1, 0, 0]
    assert u.arm == ["down"] * 4 + ["bottom"] + ["up"] * 4
    assert find_u(path(9, [(1, 3), (3, 5)]), hw) is None  # chained, not nested
    assert find_u(path(9, [(1, 7), (3, 5)]), [(8, 8)] * 9) is None  # nothing coarser
    assert find_u(path(9, [(1, 6), (3, 5)]), hw) is None  # 64x64 skipped onto 32x32
    assert find_u(path(9, [(1, 7)]), hw) is None  # one skip is no U
    assert find_u(path(9, [(1, 7), (3, 5)]), hw[:8] + [None]) is None  # not all maps


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "gpt", "lenet5"])
def test_models_without_a_u_keep_their_layout(graphs, name: str) -> None:
    g = view_of(graphs, name, "default")
    for direction in ("LR", "TB"):
        lay = layout(g, theme=THEME, style="blocks", direction=direction)
        assert "ushape" not in lay.extras


def test_rows_still_win_and_a_width_picks_the_u(graphs) -> None:
    import warnings

    import nnviz

    g = view_of(graphs, "unet", "default")
    lay = layout(g, theme=THEME, style="blocks", direction="LR", rows=3)
    assert "ushape" not in lay.extras and len(lay.extras["rows"]) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for direction in ("LR", "TB", None):
            d = nnviz.draw(graphs["unet"], style="blocks", theme=THEME, width="6.9in",
                           direction=direction)
            assert "ushape" in d.layout.extras and d.flow_note().startswith("as a U")
            assert d.smallest_font_pt >= 7.0
            assert d.layout.height / d.layout.width * 6.9 <= 9.0  # fits a page
        d = nnviz.draw(graphs["unet"], style="blocks", theme=THEME, width="6.9in",
                       direction="LR", rows=2)
        assert "ushape" not in d.layout.extras and len(d.layout.extras["rows"]) == 2
    a = nnviz.draw(graphs["unet"], style="blocks", theme=THEME).to_bytes("svg")
    assert a == nnviz.draw(graphs["unet"], style="blocks", theme=THEME).to_bytes("svg")


def test_decoder_arm_bands_sit_at_its_output_end(graphs) -> None:
    """Top to bottom, the decoder arm flows upwards: the norm and activation bands a conv
    carries are drawn at its top (where its output leaves), the encoder's at its bottom."""
    from nnviz.render.build import build_scene
    from nnviz.render.scene import Path

    g = view_of(graphs, "unet", "expanded")
    lay = layout(g, theme=THEME, style="blocks", direction="TB")
    arm = lay.extras["ushape"]["arm"]
    banded = {b["id"]: b for b in lay.extras["blocks"] if b["bands"]["post"]}
    assert {arm[n] for n in banded} == {"down", "bottom", "up"}
    seen = set()
    for cls, data, items in build_scene(g, lay, THEME).layers:
        if cls != "node" or data.get("id") not in banded:
            continue
        b = banded[data["id"]]
        top, bottom = b["y"], b["y"] + b["h"]
        # the bands: filled strips after the three faces, each on the front face and then
        # on the side face
        strips = [it for it in items[3:] if isinstance(it, Path) and it.fill and it.closed]
        fronts = strips[0::2]
        ys = [p[1] for it in fronts for p in it.points]
        middle = sum(ys) / len(ys)
        assert (middle < (top + bottom) / 2) == (arm[b["id"]] == "up"), b["id"]
        seen.add(arm[b["id"]])
    assert seen == {"down", "bottom", "up"}


def test_a_keras_unet_is_a_u_too() -> None:
    """The U is found in a Keras functional UNet (Concatenate, Conv2DTranspose, fused
    ReLUs) as in the torch one: the arcs land on the conv each Concatenate feeds."""
    keras = pytest.importorskip("keras", reason="keras builds the Keras model")
    from nnviz.loaders import load

    L = keras.layers
    inp = keras.Input((32, 32, 1))
    x, skips = inp, []
    for f in (8, 16):
        x = L.Conv2D(f, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = L.MaxPooling2D()(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    for f, s in zip((16, 8), reversed(skips)):
        x = L.Conv2DTranspose(f, 2, strides=2)(x)
        x = L.Concatenate()([x, s])
        x = L.Conv2D(f, 3, padding="same", activation="relu")(x)
    g = load(keras.Model(inp, L.Conv2D(2, 1)(x), name="segmenter"))
    from nnviz.passes import ViewOptions, prepare

    view = prepare(g, ViewOptions())
    for direction in ("TB", "LR"):
        lay = layout(view, theme=THEME, style="blocks", direction=direction)
        assert "ushape" in lay.extras
        check_arcs_are_edges(view, lay)
        succ = view.successors()
        for s in lay.extras["skips"]:
            ((u, v),) = s["edges"]
            assert view.nodes[v].op == "Concatenate" and s["dst"] in succ[v]


class ProjectedSkips(torch.nn.Module):
    """A two-level UNet whose skips pass a 1x1 conv before the concatenation (a side branch
    drawn on its arc, named)."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.e1, self.e2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.pool, self.mid = nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1)
        self.proj1, self.proj2 = nn.Conv2d(8, 8, 1), nn.Conv2d(16, 16, 1)
        self.up2, self.d2 = nn.ConvTranspose2d(32, 16, 2, 2), nn.Conv2d(32, 16, 3, padding=1)
        self.up1, self.d1 = nn.ConvTranspose2d(16, 8, 2, 2), nn.Conv2d(16, 8, 3, padding=1)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.e1(x)
        b = self.e2(self.pool(a))
        y = self.d2(torch.cat([self.proj2(b), self.up2(self.mid(self.pool(b)))], 1))
        return self.out(self.d1(torch.cat([self.proj1(a), self.up1(y)], 1)))


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_named_arcs_of_a_u_keep_clear_of_the_boxes(direction: str) -> None:
    from test_paper import assert_no_overlap, text_boxes

    from nnviz.loaders import load
    from nnviz.passes import ViewOptions, prepare
    from nnviz.render.build import build_scene

    torch.manual_seed(0)
    g = prepare(load(ProjectedSkips().eval(), example_input=torch.randn(1, 1, 32, 32),
                     capture="hooks"), ViewOptions())
    lay = layout(g, theme=THEME, style="blocks", direction=direction)
    assert "ushape" in lay.extras
    check_arcs_are_edges(g, lay)
    assert [(s["src"], s["dst"], s["label"]) for s in lay.extras["skips"]] == [
        ("e1", "d1", "Conv2d"), ("e2", "d2", "Conv2d")]
    texts = text_boxes(build_scene(g, lay, THEME))
    assert_no_overlap(texts)
    labels = [t for t in texts if any(abs(t[3] - s["label_pos"]["y"]) < 0.5
                                      for s in lay.extras["skips"])]
    assert len(labels) == 2
    boxes = [(b.x, b.y, b.x + b.w, b.y + b.h) for b in lay.nodes.values()]
    for t in labels:
        assert not any(t[0] < b[2] and b[0] < t[2] and t[1] < b[3] and b[1] < t[3]
                       for b in boxes), t


def on_polyline(p: tuple, pts: list) -> bool:
    return any(min(a[0], b[0]) - 0.01 <= p[0] <= max(a[0], b[0]) + 0.01
               and min(a[1], b[1]) - 0.01 <= p[1] <= max(a[1], b[1]) + 0.01
               for a, b in zip(pts, pts[1:]))


def seg_dist(p: tuple, a: tuple, b: tuple) -> float:
    (ax, ay), (bx, by) = a, b
    length2 = (bx - ax) ** 2 + (by - ay) ** 2 or 1e-12
    t = max(0.0, min(1.0, ((p[0] - ax) * (bx - ax) + (p[1] - ay) * (by - ay)) / length2))
    return math.dist(p, (ax + t * (bx - ax), ay + t * (by - ay)))


@pytest.mark.parametrize("name", ["unet", "resnet18"])
def test_a_concat_mark_where_a_skip_joins_by_concatenation(graphs, name: str) -> None:
    """A "||" ring sits on each skip arrow whose skip enters a concatenation in the graph
    (the UNet's torch.cat), just before its arrowhead, outside every box; a residual Add
    skip (ResNet) gets none. As a U, as wrapped rows and as one column."""
    from nnviz.render.build import build_scene
    from nnviz.render.scene import Circle, arrow_items

    g = view_of(graphs, name, "default")
    pred = g.predecessors()
    for direction, rows in (("TB", None), ("LR", None), ("LR", 3)):
        lay = layout(g, theme=THEME, style="blocks", direction=direction, rows=rows)
        skips = lay.extras["skips"]
        assert skips
        for s in skips:
            joined = any(g.nodes[v].op in ("torch.cat", "Concat") and len(pred[v]) >= 2
                         for _, v in s["edges"])
            assert joined == (name == "unet")
            mark = s.get("join")
            assert (mark is not None) == joined, (s["src"], s["dst"])
            if not mark:
                continue
            last = s["pieces"][-1]
            c = (mark["x"], mark["y"])
            assert mark["kind"] == "concat" and on_polyline(c, last)
            # before the arrowhead: the ring does not touch the head's triangle
            _, head = arrow_items([tuple(p) for p in last], False, "#000000", 1.0,
                                  THEME["edge"]["arrow_size"])
            tri = head.points
            assert all(seg_dist(c, tri[i], tri[i - 1]) > mark["r"] for i in range(3)), c
            for box in lay.nodes.values():
                assert not (box.x < c[0] < box.x + box.w and box.y < c[1] < box.y + box.h)
        rings = [it for cls, _, items in build_scene(g, lay, THEME).layers
                 if cls == "skip-join" for it in items if isinstance(it, Circle)]
        assert len(rings) == (4 if name == "unet" else 0)
