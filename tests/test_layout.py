"""Invariants of the layered layout engine on NN-shaped graphs (and dot when installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node, Tensor
from nnviz.layout import layout
from nnviz.layout.model import Layout, NodeBox
from nnviz.theme import load_theme

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.graphs import resnet, transformer, unet  # noqa: E402

THEME = load_theme()
TOL = 0.6


def _boxes(lay: Layout) -> list[NodeBox]:
    return list(lay.nodes.values())


def assert_no_overlap(lay: Layout) -> None:
    boxes = _boxes(lay)
    arr = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes])
    order = np.argsort(arr[:, 1])
    arr = arr[order]
    for i in range(len(arr)):
        x0, y0, x1, y1 = arr[i]
        j = i + 1
        while j < len(arr) and arr[j, 1] < y1 - 1e-6:
            a0, _, a1, _ = arr[j]
            assert not (a0 < x1 - 1e-6 and x0 < a1 - 1e-6), (
                f"boxes overlap: {boxes[order[i]].id} and {boxes[order[j]].id}")
            j += 1
    assert all(b.x >= 0 and b.y >= 0 and b.x + b.w <= lay.width + TOL
               and b.y + b.h <= lay.height + TOL for b in boxes)


def _on_border(p: tuple[float, float], b: NodeBox) -> bool:
    x, y = p
    inside_x = b.x - TOL <= x <= b.x + b.w + TOL
    inside_y = b.y - TOL <= y <= b.y + b.h + TOL
    on_h = inside_x and (abs(y - b.y) <= TOL or abs(y - b.y - b.h) <= TOL)
    on_v = inside_y and (abs(x - b.x) <= TOL or abs(x - b.x - b.w) <= TOL)
    return on_h or on_v


def _src_box(lay: Layout, src: str, dst: str) -> NodeBox:
    return lay.nodes.get(f"{src}::stub::{dst}") or lay.nodes[src]


def assert_edges_on_borders(lay: Layout) -> None:
    assert lay.edges
    for e in lay.edges:
        assert len(e.points) >= 2
        sb, db = _src_box(lay, e.src, e.dst), lay.nodes[e.dst]
        assert _on_border(e.points[0], sb), (e.src, e.dst, e.points[0], sb)
        assert _on_border(e.points[-1], db), (e.src, e.dst, e.points[-1], db)


def _sample(e) -> np.ndarray:
    pts = np.array(e.points, dtype=float)
    if not e.spline:
        t = np.linspace(0, 1, 12)[:, None]
        return np.concatenate([a + t * (b - a) for a, b in zip(pts, pts[1:])])
    t = np.linspace(0, 1, 12)[:, None]
    out = []
    for i in range(0, len(pts) - 1, 3):
        p0, p1, p2, p3 = pts[i:i + 4]
        out.append((1 - t) ** 3 * p0 + 3 * t * (1 - t) ** 2 * p1 + 3 * t ** 2 * (1 - t) * p2
                   + t ** 3 * p3)
    return np.concatenate(out)


def assert_edges_avoid_boxes(lay: Layout) -> None:
    """No edge passes through a box other than its own two ends (1 px slack)."""
    boxes = _boxes(lay)
    arr = np.array([[b.x + 1, b.y + 1, b.x + b.w - 1, b.y + b.h - 1] for b in boxes])
    ids = [b.id for b in boxes]
    for e in lay.edges:
        s = _sample(e)
        inside = ((s[:, None, 0] > arr[None, :, 0]) & (s[:, None, 0] < arr[None, :, 2])
                  & (s[:, None, 1] > arr[None, :, 1]) & (s[:, None, 1] < arr[None, :, 3]))
        hit = {ids[k] for k in np.flatnonzero(inside.any(axis=0))}
        hit -= {e.src, e.dst, f"{e.src}::stub::{e.dst}"}
        assert not hit, f"edge {e.src}->{e.dst} crosses {sorted(hit)[:3]}"


def assert_frames(graph: Graph, lay: Layout) -> None:
    for fr in lay.groups:
        members = [n for n in graph.nodes.values() if n.group[:len(fr.path)] == fr.path]
        assert members
        for n in members:
            b = lay.nodes[n.id]
            assert fr.x - TOL <= b.x and b.x + b.w <= fr.x + fr.w + TOL, (fr.path, n.id)
            assert fr.y - TOL <= b.y and b.y + b.h <= fr.y + fr.h + TOL, (fr.path, n.id)
    for i, a in enumerate(lay.groups):
        for b in lay.groups[i + 1:]:
            nested = a.path == b.path[:len(a.path)] or b.path == a.path[:len(b.path)]
            if nested:
                continue
            disjoint = (a.x + a.w <= b.x + TOL or b.x + b.w <= a.x + TOL
                        or a.y + a.h <= b.y + TOL or b.y + b.h <= a.y + TOL)
            assert disjoint, (a.path, b.path)


GRAPHS = {
    "gpt": lambda: transformer(160),
    "gpt_flat": lambda: transformer(160, grouped=False),
    "resnet": lambda: resnet(120),
    "resnet_flat": lambda: resnet(120, grouped=False),
    "unet": lambda: unet(150),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_invariants(name: str) -> None:
    g = GRAPHS[name]()
    lay = layout(g, theme=THEME)
    assert set(g.nodes) <= set(lay.nodes)
    assert_no_overlap(lay)
    assert_edges_on_borders(lay)
    assert_edges_avoid_boxes(lay)
    assert_frames(g, lay)
    # layers respect edge direction (these graphs are DAGs)
    for e in lay.edges:
        assert _src_box(lay, e.src, e.dst).cy < lay.nodes[e.dst].cy, (e.src, e.dst)


def _by_name(g: Graph, group: tuple[str, ...], name: str) -> str:
    return next(n.id for n in g.nodes.values() if n.group == group and n.name == name)


@pytest.mark.parametrize("grouped", [True, False])
def test_residual_trunk_is_straight(grouped: bool) -> None:
    g = resnet(120, grouped=grouped)
    lay = layout(g, theme=THEME)
    # the bottleneck path conv1 -> ... -> add -> relu of every block is one vertical line
    blocks: dict[tuple, list[str]] = {}
    names = ("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "add", "relu")
    if grouped:
        for n in g.nodes.values():
            if len(n.group) == 2 and n.name in names:
                blocks.setdefault(n.group, []).append(n.id)
    else:
        chunk: list[str] = []
        for n in g.nodes.values():
            if n.name in names and n.op != "MaxPool" and not (n.name == "relu" and not chunk):
                chunk.append(n.id)
                if n.name == "relu":
                    blocks[(len(blocks),)] = chunk
                    chunk = []
    assert len(blocks) >= 8
    for ids in blocks.values():
        xs = [lay.nodes[i].cx for i in ids]
        assert max(xs) - min(xs) < 1.0, xs
    # and the transformer's residual stream through the MLP half of each block
    g = transformer(100, grouped=grouped)
    lay = layout(g, theme=THEME)
    for i in range(3):
        blk = (f"h.{i}",) if grouped else ()
        path = [_by_name(g, blk, "residual_1"), _by_name(g, blk, "residual_2")]
        xs = [lay.nodes[p].cx for p in path]
        assert max(xs) - min(xs) < 1.0, xs
        if not grouped:
            break


def test_shared_mask_becomes_stubs() -> None:
    g = transformer(160)  # 5 blocks, one attention_mask input feeding all of them
    lay = layout(g, theme=THEME)
    mask = next(n.id for n in g.nodes.values() if n.name == "attention_mask")
    stubs = [b for b in lay.nodes.values() if b.shape == "stub"]
    assert len(stubs) == 4 and all(b.id.startswith(mask + "::stub::") for b in stubs)
    assert stubs[0].lines[0].text == "attention_mask"
    # every consumer still has its edge; all but the first start at a stub right above it
    wheres = [n.id for n in g.nodes.values() if n.op == "Where"]
    for w in wheres[1:]:
        e = next(e for e in lay.edges if e.src == mask and e.dst == w)
        assert lay.nodes[w].y - e.points[0][1] < 80
    # without the stubs the same graph has long edges spanning every block
    long_edges = [e for e in lay.edges if e.src == mask]
    assert len(long_edges) == len(wheres)


def test_deterministic_across_processes() -> None:
    code = (f"import sys, hashlib; sys.path.insert(0, {str(REPO)!r});"
            "from bench.graphs import transformer; from nnviz.layout import layout;"
            "print(hashlib.sha256(layout(transformer(130)).to_json().encode()).hexdigest())")
    outs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout)
    assert len(outs) == 1
    g = unet(120)
    assert layout(g).to_json() == layout(g).to_json()


@pytest.mark.parametrize("direction", ["LR", "RL", "BT"])
def test_other_directions(direction: str) -> None:
    g = resnet(60)
    tb = layout(g, theme=THEME)
    lay = layout(g, theme=THEME, direction=direction)
    assert lay.direction == direction
    assert_no_overlap(lay)
    assert_edges_on_borders(lay)
    assert_edges_avoid_boxes(lay)
    assert_frames(g, lay)
    for e in lay.edges:
        s, d = lay.nodes[e.src], lay.nodes[e.dst]
        if direction == "LR":
            assert s.cx < d.cx
        elif direction == "RL":
            assert s.cx > d.cx
        else:
            assert s.cy > d.cy
    # same boxes as TB (no relabelling), rotated drawing
    assert {k: (b.w, b.h) for k, b in lay.nodes.items()} == {
        k: (b.w, b.h) for k, b in tb.nodes.items()}
    if direction in ("LR", "RL"):
        assert lay.width > lay.height


def test_cycles_and_odd_graphs() -> None:
    g = Graph("cyc")
    for t in ("a", "b", "c", "d"):
        g.add_tensor(Tensor(t))
    g.add_node(Node("in", "Input", "io", outputs=["a"]))
    g.add_node(Node("x", "Add", "elementwise", inputs=["a", "c"], outputs=["b"]))
    g.add_node(Node("y", "Relu", "activation", inputs=["b"], outputs=["c"]))
    g.add_node(Node("self", "Identity", "other", inputs=["d"], outputs=["d"]))
    g.add_node(Node("lonely", "Constant", "constant", outputs=["z"]))
    lay = layout(g, theme=THEME)
    assert_no_overlap(lay)
    assert_edges_on_borders(lay)
    assert {(e.src, e.dst) for e in lay.edges} == {("in", "x"), ("x", "y"), ("y", "x")}
    assert layout(Graph("empty")).nodes == {}


def test_identical_blocks_share_one_layout() -> None:
    g = transformer(400)
    lay = layout(g, theme=THEME)
    frames = {f.path: f for f in lay.groups}
    sizes = {(round(frames[(f"h.{i}",)].w, 2), round(frames[(f"h.{i}",)].h, 2))
             for i in range(1, 12)}
    assert len(sizes) == 1
    # node offsets inside two blocks are the same
    a = {n.name: lay.nodes[n.id] for n in g.iter_group_nodes(("h.3",))}
    b = {n.name: lay.nodes[n.id] for n in g.iter_group_nodes(("h.7",))}
    fa, fb = frames[("h.3",)], frames[("h.7",)]
    for k in a:
        assert (a[k].x - fa.x, a[k].y - fa.y) == pytest.approx((b[k].x - fb.x, b[k].y - fb.y))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_dot_engine() -> None:
    g = resnet(60)
    lay = layout(g, theme=THEME, engine="dot")
    assert lay.engine == "dot" and set(lay.nodes) == set(g.nodes)
    assert_no_overlap(lay)
    assert len(lay.edges) == len(g.edges())
    for e in lay.edges:  # dot's splines end at (near) the box borders too
        d = lay.nodes[e.dst]
        x, y = e.points[-1]
        assert d.x - 2 <= x <= d.x + d.w + 2 and abs(y - d.y) < 3
    assert lay.groups and json.loads(lay.to_json())["engine"] == "dot"


def test_dot_engine_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    # nnviz.layout (the function) shadows the package attribute, so import by name
    dot_mod = importlib.import_module("nnviz.layout.dot")

    monkeypatch.setattr(dot_mod.shutil, "which", lambda name: None)
    with pytest.raises(NnvizError, match="Graphviz"):
        layout(resnet(30), engine="dot")


def test_real_onnx_model_with_scopes(tmp_path: Path) -> None:
    """A transformer block built with onnx.helper, loaded by the ONNX loader (name scopes)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    import nnviz

    nodes, inits = [], []
    x = "x"
    for i in range(3):
        s = f"/layers.{i}"

        def w(name: str, i: int = i) -> str:
            return f"layers.{i}.{name}"

        nodes.append(helper.make_node("LayerNormalization", [x, w("ln.w"), w("ln.b")],
                                      [f"{s}/ln"], name=f"{s}/norm/LayerNormalization"))
        for p in ("q", "k", "v"):
            nodes.append(helper.make_node("MatMul", [f"{s}/ln", w(p)], [f"{s}/{p}"],
                                          name=f"{s}/attn/{p}_proj/MatMul"))
            inits.append(helper.make_tensor(w(p), TensorProto.FLOAT, [8, 8], [0.0] * 64))
        nodes.append(helper.make_node("MatMul", [f"{s}/q", f"{s}/k"], [f"{s}/qk"],
                                      name=f"{s}/attn/MatMul"))
        nodes.append(helper.make_node("Softmax", [f"{s}/qk"], [f"{s}/sm"],
                                      name=f"{s}/attn/Softmax"))
        nodes.append(helper.make_node("MatMul", [f"{s}/sm", f"{s}/v"], [f"{s}/av"],
                                      name=f"{s}/attn/MatMul_1"))
        nodes.append(helper.make_node("Add", [x, f"{s}/av"], [f"{s}/out"], name=f"{s}/Add"))
        inits += [helper.make_tensor(w("ln.w"), TensorProto.FLOAT, [8], [1.0] * 8),
                  helper.make_tensor(w("ln.b"), TensorProto.FLOAT, [8], [0.0] * 8)]
        x = f"{s}/out"
    graph = helper.make_graph(nodes, "blocks",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 8])],
                              inits)
    path = tmp_path / "blocks.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    g = nnviz.load(path)
    lay = layout(g, theme=THEME)
    assert_no_overlap(lay)
    assert_edges_on_borders(lay)
    assert_edges_avoid_boxes(lay)
    assert_frames(g, lay)
    assert {fr.path[0] for fr in lay.groups} >= {"layers.0", "layers.1", "layers.2"}
    for e in lay.edges:
        assert lay.nodes[e.src].cy < lay.nodes[e.dst].cy


def _random_graph(seed: int) -> Graph:
    """Random DAG-ish graphs with back edges and scattered groups: the messy case."""
    import random

    rng = random.Random(seed)
    g = Graph(f"r{seed}")
    n = rng.randint(2, 40)
    groups = [(), ("a",), ("a", "b"), ("a", "c"), ("d",), ("d", "e", "f")]
    for i in range(n):
        ins = [f"t{j}" for j in rng.sample(range(i), k=min(i, rng.randint(0, 3)))] if i else []
        if rng.random() < 0.05 and i > 2:
            ins.append(f"t{rng.randint(i, n - 1)}")  # a back edge: the file has a cycle
        g.add_tensor(Tensor(f"t{i}"))
        grp = rng.choice(groups)
        if grp:
            g.ensure_group(grp)
        g.add_node(Node(f"n{i}", rng.choice(["Conv", "Add", "Relu", "MatMul"]), "other",
                        name=f"node{i}" * rng.randint(1, 3), inputs=ins, outputs=[f"t{i}"],
                        group=grp))
    return g


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_random_graphs_keep_invariants(seed: int) -> None:
    g = _random_graph(seed)
    for direction in ("TB", "LR"):
        lay = layout(g, theme=THEME, direction=direction)
        assert set(g.nodes) <= set(lay.nodes)
        assert_no_overlap(lay)
        if lay.edges:
            assert_edges_on_borders(lay)
        assert_edges_avoid_boxes(lay)
        assert_frames(g, lay)


@pytest.mark.parametrize("direction", ["TB", "BT"])
def test_wide_title_breaks_into_two_lines(direction: str) -> None:
    """A frame around two narrow boxes keeps the boxes' width and takes its long title on two
    lines (broken between words) instead of growing to the title's width; the SVG draws
    both lines on one patch, and the patch keeps inside the frame."""
    from nnviz.ir import Group
    from nnviz.render.build import build_scene
    from nnviz.render.scene import Rect, Text
    from nnviz.text import split_title, text_width

    g = Graph("t")
    for t in ("x", "y", "z", "w"):
        g.add_tensor(Tensor(t))
    g.add_node(Node("in", "Input", "io", outputs=["x"]))
    for i, (a, b) in enumerate((("x", "y"), ("y", "z"))):
        g.add_node(Node(f"relu{i}", "Relu", "activation", inputs=[a], outputs=[b],
                        group=("patch_embeddings",)))
    g.add_node(Node("out", "Relu", "activation", inputs=["z"], outputs=["w"]))
    g.groups[("patch_embeddings",)] = Group(("patch_embeddings",), "patch_embeddings",
                                            op="ViTPatchEmbeddings")
    lay = layout(g, theme=THEME, direction=direction)
    (fr,) = lay.groups
    assert fr.label == "patch_embeddings (ViTPatchEmbeddings)"
    assert fr.lines == ["patch_embeddings", "(ViTPatchEmbeddings)"]
    size = float(THEME["group"]["label_size"])
    assert fr.w < text_width(fr.label, size) + 16
    assert fr.w >= max(text_width(t, size) for t in fr.lines) + 16 - TOL
    assert_frames(g, lay)
    assert_no_overlap(lay)
    scene = build_scene(g, lay, THEME)
    (items,) = [items for cls, _, items in scene.layers if cls == "group-label"]
    patch, *texts = items
    assert isinstance(patch, Rect) and [t.text for t in texts if isinstance(t, Text)] == fr.lines
    assert fr.x <= patch.x and patch.x + patch.w <= fr.x + fr.w
    assert texts[1].y > texts[0].y and patch.y + patch.h >= texts[1].y
    # a title that fits its content, or has no place to break, stays on one line
    assert split_title("encoder", size) == ["encoder"]
    assert split_title("layers.0 (ViTLayer)", size) == ["layers.0", "(ViTLayer)"]
    assert split_title("a/very/long/module/path", size) == ["a/very/long/", "module/path"]
