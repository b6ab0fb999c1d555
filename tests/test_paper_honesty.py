"""Issue 17's honesty rule: every style draws every layer of the view, or refuses in one
sentence that says what to use instead. Real models (hand-written torchvision-style
ResNet-18 and MobileNetV2, a UNet, a GPT-style decoder, nn.TransformerEncoder, an MLP,
LeNet-5, a VGG-ish CNN, Keras models) go through every style at the default view and fully
expanded."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first keras import

torch = pytest.importorskip("torch", reason="the torch extra builds the real models")

import paper_models as pm  # noqa: E402

import nnviz  # noqa: E402
from nnviz.errors import NnvizError  # noqa: E402
from nnviz.ir import Graph  # noqa: E402
from nnviz.layout import layout  # noqa: E402
from nnviz.layout.paper_path import drawn_members, is_unit, layer_title, short_op  # noqa: E402
from nnviz.passes import ViewOptions, prepare  # noqa: E402
from nnviz.theme import load_theme  # noqa: E402

THEME = load_theme("paper")
VIEWS = {"default": ViewOptions(), "expanded": ViewOptions(depth=99, fold=False)}
# What each style must do with each model at the default view: draw it, or refuse it.
DRAWS = {
    "blocks": {"resnet18", "unet", "mobilenetv2", "gpt", "mlp", "lenet5", "vgg", "encoder",
               "keras_cnn", "keras_mobilenetv2"},
    "neurons": {"resnet18", "mobilenetv2", "mlp", "lenet5", "vgg", "keras_cnn",
                "keras_mobilenetv2"},
}


def encoder_model() -> Graph:
    from nnviz.loaders import load

    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32),
                                torch.nn.TransformerEncoder(layer, 3, enable_nested_tensor=False),
                                torch.nn.Linear(32, 5)).eval()
    return load(model, example_input=torch.randn(1, 10, 16), capture="hooks")


def keras_cnn_model() -> Graph:
    keras = pytest.importorskip("keras", reason="keras builds the Keras models")
    from nnviz.loaders import load

    L = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 3)), L.Conv2D(16, 3, activation="relu", name="conv1"),
        L.MaxPooling2D(name="pool1"), L.Conv2D(32, 3, activation="relu", name="conv2"),
        L.GlobalAveragePooling2D(name="gap"), L.Dense(64, activation="relu", name="fc1"),
        L.Dropout(0.5, name="drop"), L.Dense(10, activation="softmax", name="fc2")],
        name="keras_cnn")
    return load(model)


def keras_mobilenetv2_model() -> Graph:
    keras = pytest.importorskip("keras", reason="keras builds the Keras models")
    from nnviz.loaders import load

    return load(keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None))


LOADERS = {**{name: (lambda n=name: pm.load_torch(n)) for name in pm.TORCH_MODELS},
           "encoder": encoder_model, "keras_cnn": keras_cnn_model,
           "keras_mobilenetv2": keras_mobilenetv2_model}


@pytest.fixture(scope="module")
def graphs() -> dict[str, Graph]:
    return {}


def view_of(graphs: dict, name: str, view: str) -> Graph:
    key = (name, view)
    if key not in graphs:
        if name not in graphs:
            graphs[name] = LOADERS[name]()
        graphs[key] = prepare(graphs[name], VIEWS[view])
    return graphs[key]


def label_text(lay, nid: str) -> str:
    return " ".join(ln.text for ln in lay.nodes[nid].lines)


def check_represented(g: Graph, lay) -> None:
    """Every node of the view is drawn: a box/column of its own, a rider named in its box's
    label, plumbing inside a box's members, or a side branch named on an arc."""
    ex = lay.extras
    members = drawn_members(ex)
    missing = set(g.nodes) - members
    assert not missing, f"dropped from the drawing: {sorted(missing)[:8]}"
    own = {b["id"] for b in ex.get("blocks", [])} | {c["id"] for c in ex.get("columns", [])}
    arc_text = {m: s["label"] for s in ex.get("skips", []) for m in s["members"]}
    for item in ex.get("blocks", []) + ex.get("columns", []):
        text = label_text(lay, item["id"]).replace(" ", "")
        node = g.nodes[item["id"]]
        titles = {layer_title(g, node), layer_title(g, node, alone=True)}
        # "Conv 3×3": a kernel of two axes says the "2d" of "Conv2d" (blocks._title)
        titles |= {t[:-2] for t in titles if t[-2:].lower() in ("1d", "2d", "3d")}
        assert any(t.replace(" ", "") in text for t in titles), (titles, text)
        for m in item["members"]:
            rider = g.nodes[m]
            assert m == item["id"] or not is_unit(rider), (m, rider.op)  # no layer hidden
            if rider.kind in ("activation", "norm"):
                assert short_op(rider.op) in text, (rider.op, text)
    for nid, node in g.nodes.items():
        if is_unit(node) and nid not in own:
            named = layer_title(g, node) if node.kind != "group" else node.meta["group"][-1]
            assert named in arc_text.get(nid, ""), f"{node.op} {nid} is not drawn"
    check_arcs_are_edges(g, lay)


def check_arcs_are_edges(g: Graph, lay) -> None:
    """True before pretty: every arc stands for edges of the view. A direct skip leaves the
    box holding the tensor's producer and lands on the box holding its consumer (a UNet's
    concat rides with the decoder conv it feeds, so the arc lands there); a side branch
    drawn on its arc is entered from the box it leaves and exits into the box it lands on."""
    succ = g.successors()
    holder = {m: item["id"] for item in lay.extras.get("blocks", []) +
              lay.extras.get("columns", []) for m in item["members"]}
    for s in lay.extras.get("skips", []):
        edges = [tuple(e) for e in s["edges"]]
        assert edges, f"arc {s['src']} -> {s['dst']} stands for no edge"
        for u, v in edges:
            assert v in succ[u], f"arc {s['src']} -> {s['dst']}: {u} -> {v} is no edge"
            assert holder.get(u) == s["src"] or u in s["members"], (s["src"], u)
            assert holder.get(v) == s["dst"] or v in s["members"], (s["dst"], v)
        assert any(holder.get(u) == s["src"] for u, _ in edges), s
        assert any(holder.get(v) == s["dst"] for _, v in edges), s


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("name", list(LOADERS))
def test_every_style_draws_every_layer_or_refuses(graphs, name: str, view: str) -> None:
    view_of(graphs, name, view)  # loads the model once
    for style in ("graph", "blocks", "neurons"):
        try:
            # draw() decides the view (the neurons style opens collapsed dense heads)
            d = nnviz.draw(graphs[name], style=style, theme=THEME, view=VIEWS[view])
        except NnvizError as exc:
            text = str(exc)
            assert style != "graph", text
            assert "\n" not in text and ("--style" in text or "--depth" in text), text
            assert view != "default" or name not in DRAWS[style], f"{style} refused: {text}"
            continue
        g, lay = d.graph, d.layout
        assert style == "graph" or view != "default" or name in DRAWS[style], \
            f"{style} should refuse {name}"
        if style == "graph":
            drawn = {i.split("::stub::")[0] for i in lay.nodes}
            assert set(g.nodes) <= drawn
            continue
        check_represented(g, lay)


def test_residual_and_skip_connections_are_arcs(graphs) -> None:
    """ResNet's residual adds and UNet's concatenations are arcs; the ResNet projection
    shortcut (1x1 conv + BN) rides on its arc, named."""
    res = layout(view_of(graphs, "resnet18", "expanded"), theme=THEME, style="blocks")
    skips = res.extras["skips"]
    assert len(skips) == 8  # one per BasicBlock
    projections = [s for s in skips if s["members"]]
    assert len(projections) == 3 and all(s["label"] == "Conv2d + BN" for s in projections)
    unet = layout(view_of(graphs, "unet", "default"), theme=THEME, style="blocks")
    spans = sorted(
        (s["src"], s["dst"]) for s in unet.extras["skips"])
    assert [s for s, _ in spans] == ["group:downs.0", "group:downs.1", "group:downs.2",
                                     "group:inc"]
    levels = {s["src"]: s["level"] for s in unet.extras["skips"]}
    # nested: the outermost skip (inc -> last decoder) flies highest
    assert levels["group:inc"] > levels["group:downs.0"] > levels["group:downs.1"] \
        > levels["group:downs.2"]


def test_folded_blocks_keep_their_count(graphs) -> None:
    """The graph view's ×N folding reaches the paper figure: a folded group of one box says
    ×N in its title, a folded run of boxes (a transformer block) gets a ×N bracket."""
    view_of(graphs, "mobilenetv2", "default")
    d = nnviz.draw(graphs["mobilenetv2"], style="blocks", theme=THEME)
    titles = ["".join(ln.text for ln in b.lines if ln.style == "title").replace(" ", "")
              for b in d.layout.nodes.values()]  # titles wrap over lines
    assert "InvertedResidual\u00d72" in titles and "InvertedResidual\u00d73" in titles
    from nnviz.loaders import load

    torch.manual_seed(0)
    gpt = load(pm.GPT(layers=24).eval(), example_input=torch.randint(0, 1000, (1, 32)),
               capture="hooks")
    d = nnviz.draw(gpt, style="blocks", theme=THEME)
    (fold,) = d.layout.extras["folds"]
    assert fold["label"].startswith("\u00d724") and (fold["first"], fold["last"]) == (
        "h.0.attn", "group:h.0/mlp")
    assert len(d.layout.nodes) == 5  # input, embedding, attention, MLP, head: fits a page
    check_represented(d.graph, d.layout)


def test_keras_fused_activations_are_named_in_every_style(graphs) -> None:
    view_of(graphs, "keras_cnn", "default")
    for style in ("graph", "blocks", "neurons"):
        d = nnviz.draw(graphs["keras_cnn"], style=style, theme=THEME)
        text = [" ".join(ln.text for ln in b.lines) for b in d.layout.nodes.values()]
        joined = " | ".join(text)
        # the paper styles say "Conv 3×3" (the kernel gives the rank), the graph "Conv2D"
        assert ("Conv2D" if style == "graph" else "Conv 3×3") in joined, joined
        assert "ReLU" in joined, joined
        if style == "graph":
            assert any(t.startswith("Conv2D + ReLU") for t in text), text
            assert any(t.startswith("Dense + Softmax") for t in text), text


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "gpt"])
def test_frame_titles_are_clear_of_edges_where_there_is_room(graphs, name: str) -> None:
    """Graph style: a frame title sits where no edge runs through it whenever the frame's
    top has such a spot (found here by brute force, 1 px steps); a title wider than every
    free spot keeps its place and the edge passes under its patch."""
    from nnviz.render.build import build_scene

    view_of(graphs, name, "default")
    d = nnviz.draw(graphs[name], theme=THEME)
    scene = build_scene(d.graph, d.layout, d.theme)
    frames = {"/".join(f.path): f for f in d.layout.groups}
    segs = [(min(ay, by), max(ay, by), min(ax, bx), max(ax, bx)) for e in d.layout.edges
            for (ax, ay), (bx, by) in zip(e.points, e.points[1:])]

    def hit(x: float, y: float, w: float, h: float) -> bool:
        return any(y0 < y + h and y1 > y and x0 < x + w and x1 > x for y0, y1, x0, x1 in segs)

    moved = clear = 0
    for cls, data, items in scene.layers:
        if cls != "group-label":
            continue
        patch, fr = items[0], frames[data["path"]]
        spots = [x for x in range(int(fr.x) + 6, int(fr.x + fr.w - 6 - patch.w))
                 if not hit(x, patch.y, patch.w, patch.h)]
        if spots:
            assert not hit(patch.x, patch.y, patch.w, patch.h), (data, patch)
            clear += 1
            moved += patch.x > fr.x + 6.5
    assert clear, "no frame of this model has room for a clear title"
    del moved  # these models' entering edges leave their titles alone; see the next test


def test_frame_title_moves_off_an_entering_edge() -> None:
    """An edge entering a frame near its left corner: the title goes right of it."""
    from nnviz.layout.model import EdgePath, GroupFrame, Layout
    from nnviz.render.scene import graph_scene

    lay = Layout(300, 200, groups=[GroupFrame(("blk",), "block (Basic)", 10, 20, 260, 150)],
                 edges=[EdgePath("a", "b", "t", [(30.0, 0.0), (30.0, 120.0)])])
    scene = graph_scene(Graph(name="g"), lay, THEME)
    (patch, text), = [items for cls, _, items in scene.layers if cls == "group-label"]
    assert patch.x >= 33 and text.x == patch.x + 2 and text.text == "block (Basic)"
    # no edge in the band: the usual spot, left-aligned in the frame
    lay.edges = [EdgePath("a", "b", "t", [(200.0, 60.0), (200.0, 120.0)])]
    scene = graph_scene(Graph(name="g"), lay, THEME)
    (patch, _), = [items for cls, _, items in scene.layers if cls == "group-label"]
    assert patch.x == 16
