"""Paper styles: neurons (NN-SVG FCNN) and blocks (3-D boxes) from real models' IR."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import nnviz
from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node, Tensor
from nnviz.layout import layout
from nnviz.loaders.canon_attrs import canonicalize
from nnviz.render import render_bytes
from nnviz.render.build import build_scene
from nnviz.render.scene import Text
from nnviz.text import ascent, text_width
from nnviz.theme import load_theme, paper_settings

SVG_NS = "{http://www.w3.org/2000/svg}"


def chain(name: str, spec: list[tuple[str, str, str, tuple]], framework: str = "onnx",
          attrs: dict | None = None) -> Graph:
    """Input -> layers -> Output, each layer producing a tensor of the given shape."""
    g = Graph(name=name, meta={"framework": framework})
    prev = None
    for nid, op, kind, shape in spec:
        tid = nid + ":0"
        g.add_tensor(Tensor(tid, shape, "float32"))
        g.add_node(Node(nid, op, kind, nid, attrs=dict((attrs or {}).get(nid, {})),
                        inputs=[prev] if prev else [], outputs=[tid]))
        prev = tid
    g.inputs = [spec[0][0] + ":0"]
    g.add_node(Node("output", "Output", "io", "y", inputs=[prev]))
    g.outputs = [prev]
    return canonicalize(g)  # attrs in the family's spelling, as its loader would read them


def mlp() -> Graph:
    return chain("mlp", [("x", "Input", "io", (1, 784)), ("fc1", "Linear", "linear", (1, 5)),
                         ("act", "ReLU", "activation", (1, 5)),
                         ("fc2", "Linear", "linear", (1, 300)),
                         ("fc3", "Linear", "linear", (1, 3))])


def text_boxes(scene) -> list[tuple[float, float, float, float]]:
    out = []
    for t in scene.items():
        if isinstance(t, Text) and t.text:
            w = text_width(t.text, t.size, t.bold)
            x0 = {"start": t.x, "middle": t.x - w / 2, "end": t.x - w}[t.anchor]
            out.append((x0, t.y - ascent(t.size), x0 + w, t.y))
    return out


def assert_no_overlap(boxes: list[tuple[float, float, float, float]]) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = a[0] < b[2] - 0.01 and b[0] < a[2] - 0.01 and a[1] < b[3] - 0.01 \
                and b[1] < a[3] - 0.01
            assert not overlap, (a, b)


def assert_inside(boxes, width: float, height: float) -> None:
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, (x0, y0, x1, y1)


# ---- neurons ----------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_neurons_columns_caps_and_connections(direction: str) -> None:
    theme = load_theme()
    lay = layout(mlp(), theme=theme, style="neurons", direction=direction)
    cols = lay.extras["columns"]
    assert [c["id"] for c in cols] == ["x", "fc1", "fc2", "fc3"]
    cap = paper_settings(theme, "neurons")["max_units"]
    assert [c["units"] for c in cols] == [784, 5, 300, 3]
    # heights follow the widths (square-root scale by default): the widest layer gets the
    # cap, narrower ones fewer circles, never fewer than three; a capped column shows an
    # ellipsis, a column drawn in full does not
    shown = [len(c["centers"]) for c in cols]
    assert shown[0] == cap and shown[0] > shown[2] > shown[1] >= shown[3] == 3
    assert [len(c["ellipsis"]) for c in cols] == [3, 3, 3, 0]
    extent = [max(p[1 if direction == "LR" else 0] for p in c["centers"] + c["ellipsis"])
              - min(p[1 if direction == "LR" else 0] for p in c["centers"] + c["ellipsis"])
              for c in cols]
    assert extent[0] > extent[2] > extent[1] >= extent[3]
    svg = render_bytes(mlp(), lay, "svg", theme)
    root = ET.fromstring(svg)
    conn = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "connections"][0]
    expected = sum(len(a["centers"]) * len(b["centers"]) for a, b in zip(cols, cols[1:]))
    assert len(list(conn)) == expected
    circles = list(root.iter(SVG_NS + "circle"))
    assert len(circles) == sum(len(c["centers"]) + len(c["ellipsis"]) for c in cols)
    scene = build_scene(mlp(), lay, theme)
    boxes = text_boxes(scene)
    assert_no_overlap(boxes)
    assert_inside(boxes, lay.width, lay.height)
    r = lay.extras["radius"]
    for c in cols:
        for x, y in c["centers"]:
            assert r <= x <= lay.width - r and r <= y <= lay.height - r
    assert "ReLU" in "".join(t.text for t in scene.items() if isinstance(t, Text))


@pytest.mark.parametrize("mode", ["linear", "sqrt", "log"])
def test_neurons_column_heights_follow_widths(mode: str) -> None:
    """784-256-128-10: the narrowing shows; linear narrows fastest, log slowest; a network
    whose layers all fit the cap is drawn unit for unit."""
    g = chain("mlp", [("x", "Input", "io", (1, 784)), ("a", "Gemm", "linear", (1, 256)),
                      ("b", "Gemm", "linear", (1, 128)), ("c", "Gemm", "linear", (1, 10))])
    lay = layout(g, style="neurons", proportions=mode)
    shown = [c["shown"] for c in lay.extras["columns"]]
    assert shown[0] > shown[1] > shown[2] >= shown[3] >= 3
    want = {"linear": [12, 4, 3, 3], "sqrt": [12, 7, 5, 3], "log": [12, 10, 9, 5]}[mode]
    assert shown == want
    small = chain("s", [("x", "Input", "io", (1, 4)), ("a", "Gemm", "linear", (1, 8)),
                        ("b", "Gemm", "linear", (1, 3))])
    cols = layout(small, style="neurons", proportions=mode).extras["columns"]
    assert [c["shown"] for c in cols] == [4, 8, 3]
    assert all(not c["ellipsis"] for c in cols)


def test_neurons_keras_activation_attribute_and_hostile_width_labels() -> None:
    g = chain("k", [("in", "Input", "io", (None, 8)), ("d1", "Dense", "linear", (None, 4)),
                    ("d2", "Dense", "linear", (None, 2))], framework="keras",
              attrs={"d1": {"activation": "tanh"}, "d2": {"activation": "linear"}})
    g.nodes["d1"].name = "x" * 200  # a long name is shortened, never overflows the figure
    lay = layout(g, style="neurons", direction="LR")
    titles = [ln.text for box in lay.nodes.values() for ln in box.lines if ln.style == "title"]
    assert titles == ["Input", "Dense + Tanh", "Dense"]
    scene = build_scene(g, lay, load_theme())
    assert_inside(text_boxes(scene), lay.width, lay.height)


def test_neurons_needs_layers_with_width() -> None:
    g = chain("tiny", [("x", "Input", "io", (1, 4)), ("r", "Relu", "activation", (1, 4))])
    with pytest.raises(NnvizError, match="neurons style"):
        layout(g, style="neurons")


# ---- blocks -----------------------------------------------------------------------------

def lenet(framework: str = "onnx") -> Graph:
    spec = [("x", "Input", "io", (1, 1, 32, 32)), ("c1", "Conv", "conv", (1, 6, 28, 28)),
            ("a1", "Relu", "activation", (1, 6, 28, 28)), ("p1", "MaxPool", "pool", (1, 6, 14, 14)),
            ("c2", "Conv", "conv", (1, 16, 10, 10)), ("p2", "MaxPool", "pool", (1, 16, 5, 5)),
            ("f", "Flatten", "reshape", (1, 400)), ("fc1", "Gemm", "linear", (1, 120)),
            ("fc2", "Gemm", "linear", (1, 10))]
    if framework == "keras":  # channels-last shapes, same network
        spec = [(n, o, k, (s[0], *s[2:], s[1]) if len(s) == 4 else s) for n, o, k, s in spec]
    return chain("lenet", spec, framework=framework)


def test_blocks_sizes_follow_tensor_shapes() -> None:
    theme = load_theme()
    lay = layout(lenet(), theme=theme, style="blocks")
    blocks = {b["id"]: b for b in lay.extras["blocks"]}
    # activations and plumbing ride along; the output is not a separate box
    assert list(blocks) == ["x", "c1", "p1", "c2", "p2", "fc1", "fc2"]
    assert blocks["c1"]["h"] > blocks["c2"]["h"] > blocks["p2"]["h"]  # 28 > 10 > 5 pixels
    assert blocks["c2"]["w"] > blocks["c1"]["w"] > blocks["x"]["w"]  # 16 > 6 > 1 channels
    assert blocks["fc1"]["h"] > blocks["fc2"]["h"]  # 120 > 10 features
    # left to right, no box touches the next, all centred on one line
    seq = list(blocks.values())
    for a, b in zip(seq, seq[1:]):
        assert a["x"] + a["w"] + a["dx"] < b["x"]
    centres = {round(b["y"] + b["h"] / 2, 1) for b in seq}
    assert len(centres) == 1
    labels = {bid: [ln.text for ln in lay.nodes[bid].lines] for bid in blocks}
    assert labels["c1"][-1] == "6\u00d728\u00d728" and labels["fc1"][-1] == "120"
    # one label row: every label starts at the same y, none overlap, all inside the canvas
    scene = build_scene(lenet(), lay, theme)
    boxes = text_boxes(scene)
    assert_no_overlap(boxes)
    assert_inside(boxes, lay.width, lay.height)
    label_tops = {round(t.y - ascent(t.size), 1) for t in scene.items()
                  if isinstance(t, Text) and t.bold}
    assert len(label_tops) == 1
    assert len(lay.edges) == len(seq) - 1


def test_blocks_channels_last_matches_channels_first() -> None:
    a = layout(lenet("onnx"), style="blocks").extras["blocks"]
    b = layout(lenet("keras"), style="blocks").extras["blocks"]
    assert [(x["w"], x["h"], x["dx"]) for x in a] == [(x["w"], x["h"], x["dx"]) for x in b]


def test_blocks_from_a_real_torch_model(tmp_path) -> None:
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(16, 5))
    d = nnviz.draw(model, tmp_path / "net.svg", style="blocks",
                   example_input=torch.randn(1, 3, 32, 32))
    shapes = [box.lines[-1].text for box in d.layout.nodes.values()]
    assert shapes[:3] == ["3\u00d732\u00d732", "8\u00d732\u00d732", "8\u00d716\u00d716"]
    assert shapes[-1] == "5"
    ET.parse(tmp_path / "net.svg")


def test_neurons_from_a_real_onnx_model(tmp_path) -> None:
    onnx = pytest.importorskip("onnx", reason="onnx is not installed")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.zeros((12, 6), np.float32), "W1"),
             numpy_helper.from_array(np.zeros((6, 2), np.float32), "W2")]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"], name="fc1"),
             helper.make_node("Relu", ["h"], ["a"], name="relu"),
             helper.make_node("MatMul", ["a", "W2"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 12])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2])], inits)
    path = tmp_path / "mlp.onnx"
    onnx.save(helper.make_model(graph), path)
    try:
        d = nnviz.draw(path, style="neurons", direction="LR")
    except NnvizError as exc:  # the ONNX loader may not be installed in this tree yet
        pytest.skip(f"ONNX loader unavailable: {exc}")
    units = [c["units"] for c in d.layout.extras["columns"]]
    assert units == [12, 6, 2]


@pytest.mark.parametrize("style", ["neurons", "blocks"])
@pytest.mark.parametrize("theme", ["default", "paper", "dark"])
def test_every_theme_draws_every_paper_style(style: str, theme: str) -> None:
    d = nnviz.draw(lenet(), style=style, theme=theme, direction="LR")
    root = ET.fromstring(d.to_bytes("svg"))
    bg = root.find(SVG_NS + "rect").get("fill")
    assert bg == load_theme(theme)["background"]
    assert d.to_bytes("pdf")[:5] == b"%PDF-"


def test_blocks_follow_the_main_path_of_a_residual_net() -> None:
    """A projection shortcut and an auxiliary head are not drawn in line with the main path."""
    g = Graph(name="res", meta={"framework": "onnx"})
    shapes = {"x": (1, 3, 8, 8), "c1": (1, 4, 8, 8), "c2": (1, 4, 8, 8), "proj": (1, 4, 8, 8),
              "add": (1, 4, 8, 8), "aux": (1, 2), "fc": (1, 2)}
    wiring = [("x", "Input", "io", [], "stem"), ("c1", "Conv", "conv", ["x"], "conv"),
              ("c2", "Conv", "conv", ["c1"], "conv"), ("proj", "Conv", "conv", ["x"], "proj"),
              ("add", "Add", "elementwise", ["c2", "proj"], "add"),
              ("aux", "Gemm", "linear", ["c1"], "aux"), ("fc", "Gemm", "linear", ["add"], "fc")]
    for nid, op, kind, ins, name in wiring:
        g.add_tensor(Tensor(nid + ":0", shapes[nid]))
        group = ("block1",) if nid in ("c1", "c2") else ()
        if group:
            g.ensure_group(group)
        g.add_node(Node(nid, op, kind, name, inputs=[i + ":0" for i in ins],
                        outputs=[nid + ":0"], group=group))
    for t in ("fc:0", "aux:0"):
        g.add_node(Node("out_" + t[:-2], "Output", "io", t, inputs=[t]))
    # an auxiliary head cannot be drawn on one path: refused, never silently dropped
    with pytest.raises(NnvizError, match="side branch|outputs"):
        layout(g, style="blocks")
    del g.nodes["aux"], g.nodes["out_aux"]
    lay = layout(g, style="blocks")
    assert [b["id"] for b in lay.extras["blocks"]] == ["x", "c1", "c2", "fc"]
    # the projection shortcut rides on an arc from the input to the merge, named on it
    (skip,) = lay.extras["skips"]
    assert (skip["src"], skip["dst"], skip["members"], skip["label"]) == \
        ("x", "c2", ["proj"], "Conv")
    # two layers called "conv": the labels add the scope they live in
    names = [box.lines[1].text for box in lay.nodes.values()]
    assert names == ["stem", "block1/conv", "block1/conv", "fc"]


def test_paper_styles_survive_arbitrary_chains() -> None:
    """Random layer kinds, shapes (unknown, symbolic, zero, huge) and names: the paper styles
    either draw everything inside the canvas or refuse in one sentence."""
    hyp = pytest.importorskip("hypothesis", reason="hypothesis (test extra) generates graphs")
    st = hyp.strategies

    dim = st.one_of(st.none(), st.integers(0, 100_000), st.sampled_from(["batch", "seq"]))
    shape = st.one_of(st.none(), st.lists(dim, min_size=1, max_size=5).map(tuple))
    layer = st.tuples(st.sampled_from([("Conv", "conv"), ("Gemm", "linear"), ("Relu",
                                       "activation"), ("MaxPool", "pool"), ("LSTM",
                                       "recurrent"), ("Add", "elementwise")]),
                      shape, st.text(max_size=30))

    @hyp.settings(max_examples=40, deadline=None, derandomize=True)
    @hyp.given(st.lists(layer, min_size=1, max_size=8), shape,
               st.sampled_from(["onnx", "keras"]))
    def check(layers, in_shape, framework) -> None:
        spec = [("in", "Input", "io", in_shape)]
        spec += [(f"l{i}", op, kind, shp) for i, ((op, kind), shp, _) in enumerate(layers)]
        g = chain("fuzz", spec, framework=framework)
        for i, (_, _, name) in enumerate(layers):
            g.nodes[f"l{i}"].name = name
        theme = load_theme()
        for style in ("blocks", "neurons"):
            try:
                lay = layout(g, theme=theme, style=style, direction="LR")
            except NnvizError as exc:
                assert "\n" not in str(exc)
                continue
            scene = build_scene(g, lay, theme)
            assert_inside(text_boxes(scene), lay.width + 0.01, lay.height + 0.01)
            assert_inside([(b.x, b.y, b.x + b.w, b.y + b.h) for b in lay.nodes.values()],
                          lay.width + 0.01, lay.height + 0.01)
            ET.fromstring(render_bytes(g, lay, "svg", theme))

    check()


def test_skip_arc_levels_nest_and_alternate() -> None:
    from nnviz.layout.blocks import _skip_levels

    # a chain of residual arcs meeting at boxes: two levels, alternating (no staircase)
    assert _skip_levels([(i, i + 1) for i in range(6)]) == [0, 1, 0, 1, 0, 1]
    # UNet: each skip contains the shorter ones, so it flies above them
    assert _skip_levels([(1, 9), (2, 8), (3, 7), (4, 6)]) == [3, 2, 1, 0]
    # overlapping without containment: the later-placed arc goes above
    assert _skip_levels([(0, 3), (2, 5)]) == [0, 1]
