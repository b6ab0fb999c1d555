"""Paper-figure polish on the gallery models: what a bare container ("Sequential") is called
in every view, and details that must stay visible at a paper's column width."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

torch = pytest.importorskip("torch", reason="the torch extra builds the real models")

from test_paper_rows import graph  # noqa: E402

import nnviz  # noqa: E402
from nnviz.passes import ViewOptions  # noqa: E402
from nnviz.theme import load_theme  # noqa: E402

THEME = load_theme("paper")
MODELS: dict = {}  # the models built once for this file (test_paper_rows.graph caches)


def titles(drawing) -> dict[str, str]:
    """Box id -> its whole title, wrapped title lines joined again without spaces."""
    return {nid: "".join(ln.text for ln in box.lines if ln.style == "title").replace(" ", "")
            for nid, box in drawing.layout.nodes.items()}


def title_of(drawing, group: str) -> str:
    """The title of the collapsed box standing for module path ``group`` ("h.0/mlp")."""
    for nid in drawing.layout.nodes:
        node = drawing.graph.nodes[nid]
        if node.kind == "group" and "/".join(node.meta.get("group", [])) == group:
            return titles(drawing)[nid]
    raise AssertionError(f"no box for {group}: {list(drawing.layout.nodes)}")


@pytest.mark.parametrize("style", ["blocks", "graph"])
def test_bare_containers_say_what_they_are(style: str) -> None:
    """MobileNetV2's stem (features.0 = Sequential(Conv2d, BN, ReLU6)) is titled by what it
    holds, its classifier by its attribute name; a GPT block's Sequential MLP is "mlp". No
    box is titled "Sequential"."""
    mob = nnviz.draw(graph(MODELS, "mobilenetv2"), style=style, theme=THEME)
    assert title_of(mob, "features/0") == "Conv2d-BN-ReLU6"
    assert title_of(mob, "features/18") == "Conv2d-BN-ReLU6"
    assert title_of(mob, "classifier") == "classifier"
    gpt = nnviz.draw(graph(MODELS, "gpt"), style=style, theme=THEME)
    assert title_of(gpt, "h.0/mlp") == "mlp"
    for d in (mob, gpt):
        assert not any("Sequential" in t for t in titles(d).values()), titles(d)


def test_name_line_does_not_repeat_the_title() -> None:
    """A box titled by its attribute name does not say it twice: GPT's "mlp" box names its
    block ("h.0"), MobileNetV2's "classifier" has no name line."""
    gpt = nnviz.draw(graph(MODELS, "gpt"), style="blocks", theme=THEME)
    mlps = [box for nid, box in gpt.layout.nodes.items() if titles(gpt)[nid] == "mlp"]
    assert len(mlps) == 6
    for box in mlps:
        names = [ln.text for ln in box.lines if ln.style == "name"]
        assert names and names[0].startswith("h.") and "mlp" not in names[0]
    mob = nnviz.draw(graph(MODELS, "mobilenetv2"), theme=THEME)
    for box in mob.layout.nodes.values():
        texts = [ln.text for ln in box.lines]
        assert texts.count("classifier") <= 1


def test_container_of_folded_blocks_counts_them() -> None:
    """ResNet-18 at depth 1: layer1 holds two BasicBlocks (folded into one before the
    collapse): "BasicBlock ×2", in the paper style and in the graph view."""
    g = graph(MODELS, "resnet18")
    for style in ("blocks", "graph"):
        d = nnviz.draw(g, style=style, theme=THEME, view=ViewOptions(depth=1))
        assert title_of(d, "layer1") == "BasicBlock\u00d72"


def test_frames_of_bare_containers_are_not_called_sequential() -> None:
    """Graph view frames: "features" (a name that says it) instead of "features
    (Sequential)"; ResNet's "layer2 (BasicBlock ×2)"."""
    mob = nnviz.draw(graph(MODELS, "mobilenetv2"), theme=THEME)
    frames = [f.label for f in mob.layout.groups]
    assert "features" in frames and not any("Sequential" in f for f in frames), frames
    res = nnviz.draw(graph(MODELS, "resnet18"), theme=THEME)
    frames = [f.label for f in res.layout.groups]
    assert "layer2 (BasicBlock \u00d72)" in frames, frames


def band_fills(drawing) -> list[tuple[float, float, float]]:
    """Per rider band on a box's front face: (its thickness along the flow, the box's outline
    width, the band line's width), in scene px, read from the drawn scene."""
    from nnviz.render.build import build_scene
    from nnviz.render.scene import Path

    horizontal = drawing.layout.direction in ("LR", "RL")
    scene = build_scene(drawing.graph, drawing.layout, drawing.theme)
    out = []
    for cls, _, items in scene.layers:
        paths = [it for it in items if isinstance(it, Path)] if cls == "node" else []
        fills = [p for p in paths if p.closed and p.fill is not None and p.stroke is None]
        if len(fills) <= 3:
            continue  # a box without bands: three faces
        outline = next(p.width for p in paths if p.closed and p.fill is None)
        line = min(p.width for p in paths if not p.closed)
        for strip in fills[3::2]:  # front-face strips (each band: front, then top/side)
            axis = [pt[0 if horizontal else 1] for pt in strip.points]
            out.append((max(axis) - min(axis), outline, line))
    return out


@pytest.mark.parametrize("name,direction", [("gpt", "LR"), ("resnet18", "LR"),
                                            ("resnet18", "TB"), ("lenet5", "LR")])
def test_rider_bands_show_at_column_width(name: str, direction: str) -> None:
    """A norm or activation band across a box (GPT's pre-LN on its thin sequence boxes,
    ResNet's BN + ReLU on 64-channel convs) shows at least 0.6 pt of its colour between the
    box outline and its own line when the figure prints 3.3 in wide (it was ~0.35 pt on
    ResNet-18's convs: two thin lines with nothing between)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small text is another test's business
        d = nnviz.draw(graph(MODELS, name), style="blocks", theme=THEME, direction=direction,
                       width="3.3in")
    from nnviz.render.build import build_scene
    from nnviz.render.physical import bp_per_px

    k = bp_per_px(build_scene(d.graph, d.layout, d.theme), 3.3)
    bands = band_fills(d)
    assert bands, "the figure draws rider bands"
    for thick, outline, line in bands:
        visible = (thick - outline / 2 - line / 2) * k
        assert visible >= 0.6, (name, thick, k)


def test_bands_never_swallow_a_box() -> None:
    """However small the print, bands cover at most BANDS_AT_MOST of a box's front (the box
    keeps its size and its colour)."""
    from nnviz.render.paper import BANDS_AT_MOST, band_px

    for length in (1.0, 3.0, 10.0, 60.0):
        for count in (1, 2, 3):
            for k in (0.05, 0.3, 1.0, 3.0):
                each = band_px(length, count, k, 0.7)
                assert 0 < each * count <= BANDS_AT_MOST * length + 1e-6
    assert band_px(60.0, 1, 1.0, 0.7) == 5.0  # a big box keeps the natural 5 px band


def test_folded_position_embedding_is_named() -> None:
    """GPT's position embedding (wpe looked up from a constant table) reaches the view
    folded into the add that joins it; the paper figure names it on the embedding box
    ("+ wpe") instead of drawing a GPT without position embeddings."""
    d = nnviz.draw(graph(MODELS, "gpt"), style="blocks", theme=THEME)
    emb = next(box for box in d.layout.nodes.values() if box.lines[0].text == "Embedding")
    assert "+ wpe" in [ln.text for ln in emb.lines]
    # a norm's own weights are not another module: no "+ h.0.ln_1"
    assert not any("ln_" in ln.text for box in d.layout.nodes.values() for ln in box.lines
                   if ln.style == "detail")


def test_box_titled_by_its_parent_is_named_by_it() -> None:
    """MobileNetV2's features.3.conv is the only box of features.3 and titled
    "InvertedResidual"; its name line is that block's, "features/3"."""
    d = nnviz.draw(graph(MODELS, "mobilenetv2"), style="blocks", theme=THEME)
    names = [[ln.text for ln in box.lines if ln.style == "name"]
             for nid, box in d.layout.nodes.items() if titles(d)[nid] == "InvertedResidual"]
    assert ["features/3"] in names and not any(n[0].endswith("/conv") for n in names)


def test_lone_input_map_is_a_plate() -> None:
    """An MLP on 1×28×28 images: the input is the only feature map, so its one channel has
    nothing to be proportional to; it is drawn as a plate (the thinnest box), not as the
    thickest cube of the figure."""
    d = nnviz.draw(graph(MODELS, "mlp"), style="blocks", theme=THEME)
    blocks = d.layout.extras["blocks"]
    inp = next(b for b in blocks if b["kind"] == "io")
    assert inp["w"] <= min(b["w"] for b in blocks if b["kind"] != "io")
    from nnviz.theme import paper_settings

    assert inp["w"] == paper_settings(THEME, "blocks")["min_thickness"]


def test_graph_view_box_filling_its_parent_takes_its_class() -> None:
    """MobileNetV2's features.1 holds only its .conv (no residual add), so the graph view
    draws no features.1 frame; the box carries the block's class ("InvertedResidual"), as
    the paper styles title it, not the bare attribute name "conv" with no class anywhere."""
    d = nnviz.draw(graph(MODELS, "mobilenetv2"), theme=THEME)
    assert title_of(d, "features/1/conv") == "InvertedResidual"
    # features.3 has a residual add beside its conv: its frame says InvertedResidual
    assert title_of(d, "features/3/conv") == "conv"
    frames = [f.label for f in d.layout.groups]
    assert any("3 (InvertedResidual)" in f for f in frames), frames


def test_graph_view_names_the_folded_embedding() -> None:
    """The graph view's add that holds wpe's weights says "+ wpe" (it showed an unexplained
    "aten.add, params: 2.0K")."""
    d = nnviz.draw(graph(MODELS, "gpt"), theme=THEME)
    adds = [[ln.text for ln in box.lines] for box in d.layout.nodes.values()
            if any("params" in ln.text for ln in box.lines) and "add" in box.lines[0].text]
    assert adds and all("+ wpe" in lines for lines in adds), adds
