"""Paper figures at a paper's width: a long left-to-right chain of boxes wraps into rows
(like text: each row left to right, an arrow back to the next row's start), arcs split over
a row break leave through the right gutter and come back in from the left, and the gallery
models print readable text at full width."""

from __future__ import annotations

import os
import warnings

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

torch = pytest.importorskip("torch", reason="the torch extra builds the real models")

import paper_models as pm  # noqa: E402
from test_paper import assert_inside, assert_no_overlap, text_boxes  # noqa: E402
from test_paper_honesty import check_represented  # noqa: E402

import nnviz  # noqa: E402
from nnviz.errors import NnvizError  # noqa: E402
from nnviz.layout import layout  # noqa: E402
from nnviz.passes import ViewOptions, prepare  # noqa: E402
from nnviz.render.build import build_scene  # noqa: E402
from nnviz.text import text_width  # noqa: E402
from nnviz.theme import load_theme, paper_settings  # noqa: E402

THEME = load_theme("paper")
GALLERY = ("resnet18", "unet", "mobilenetv2", "gpt", "mlp", "lenet5")


@pytest.fixture(scope="module")
def loaded() -> dict:
    return {}


def graph(loaded: dict, name: str):
    if name not in loaded:
        loaded[name] = pm.load_torch(name)
    return loaded[name]


def runs(blocks: list[dict]) -> list[list[dict]]:
    """Boxes grouped by the centre line they sit on, in flow order."""
    out: list[list[dict]] = []
    for b in blocks:
        c = round(b["y"] + b["h"] / 2, 1)
        if out and round(out[-1][-1]["y"] + out[-1][-1]["h"] / 2, 1) == c:
            out[-1].append(b)
        else:
            out.append([b])
    return out


@pytest.mark.parametrize("style", ["blocks", "neurons"])
def test_rows_read_like_text_and_keep_every_layer(loaded, style: str) -> None:
    g = prepare(graph(loaded, "resnet18"), ViewOptions())
    lay = layout(g, style=style, theme=THEME, direction="LR", rows=4)
    rows = lay.extras["rows"]
    assert len(rows) == 4
    rr = runs(lay.extras["blocks"])
    # each row is one run of the flow order, rows go down the page, boxes left to right
    assert [r[0]["id"] for r in rr] == rows
    assert all(a[0]["y"] + a[0]["h"] / 2 < b[0]["y"] + b[0]["h"] / 2 for a, b in zip(rr, rr[1:]))
    for r in rr:
        assert all(a["x"] + a["w"] + a["dx"] < b["x"] for a, b in zip(r, r[1:]))
    scene = build_scene(g, lay, THEME)
    assert_no_overlap(text_boxes(scene))
    assert_inside(text_boxes(scene), lay.width, lay.height)
    check_represented(g, lay)
    # the arrow from a row's last box runs right, down into the gap between the rows, back
    # left past the next row's first box and into it
    ids = [b["id"] for b in lay.extras["blocks"]]
    for a, b in zip(rr, rr[1:]):
        (edge,) = [e for e in lay.edges if (e.src, e.dst) == (a[-1]["id"], b[0]["id"])]
        xs, ys = [p[0] for p in edge.points], [p[1] for p in edge.points]
        assert max(xs) > max(x["x"] + x["w"] + x["dx"] for x in a)
        assert min(xs) < b[0]["x"]
        lane = ys[2]  # right, down, LEFT, down, right
        assert ys[3] == lane and xs[2] > xs[3]
        assert max(x["label"]["y"] for x in a) < lane < min(x["y"] + x["dy"] for x in b)
        assert ids.index(b[0]["id"]) == ids.index(a[-1]["id"]) + 1
    # a residual arc over a row break: out through the right edge, back in from the left
    split = [s for s in lay.extras["skips"] if len(s["pieces"]) > 1]
    assert split
    for s in split:
        first, last = s["pieces"][0], s["pieces"][-1]
        assert first[-1][0] == pytest.approx(max(p[0] for p in first))
        assert last[0][0] == pytest.approx(THEME["spacing"]["margin"])
        assert first[-1][0] <= lay.width


@pytest.mark.parametrize("name", GALLERY)
def test_gallery_models_print_readable_blocks_at_full_width(loaded, name: str) -> None:
    """At 6.9 in the blocks style of every gallery model prints text of at least 6 pt, left
    to right (wrapped as needed) and with the flow left to nnviz; no page-high figures."""
    for direction in ("LR", None):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # below 6 pt would warn
            d = nnviz.draw(graph(loaded, name), style="blocks", theme=THEME, width="6.9in",
                           direction=direction)
        assert d.smallest_font_pt >= 6.0, (name, direction, d.smallest_font_pt)
        assert d.layout.height / d.layout.width * 6.9 <= 9.0


# Smallest printed text (pt) each gallery figure reaches in a 3.3 in column (style,
# direction): 6 where the figure reads; below it where no flow, row count or box size can
# (the warning then names the --depth that reads where one does). None: the style refuses.
COLUMN_FLOOR = {
    "resnet18": {("graph", "TB"): 6.0, ("blocks", "LR"): 6.0, ("blocks", "TB"): 6.0,
                 ("neurons", "LR"): 6.0, ("neurons", "TB"): 6.0},
    "unet": {("graph", "TB"): 6.0, ("blocks", "LR"): 5.5, ("blocks", "TB"): 6.0,
             ("neurons", "LR"): None, ("neurons", "TB"): None},
    "mobilenetv2": {("graph", "TB"): 6.0, ("blocks", "LR"): 6.0, ("blocks", "TB"): 6.0,
                    ("neurons", "LR"): 6.0, ("neurons", "TB"): 6.0},
    "gpt": {("graph", "TB"): 6.0, ("blocks", "LR"): 6.0, ("blocks", "TB"): 6.0,
            ("neurons", "LR"): None, ("neurons", "TB"): None},
    "mlp": {("graph", "TB"): 6.0, ("blocks", "LR"): 6.0, ("blocks", "TB"): 6.0,
            ("neurons", "LR"): 6.0, ("neurons", "TB"): 6.0},
    "lenet5": {("graph", "TB"): 6.0, ("blocks", "LR"): 6.0, ("blocks", "TB"): 6.0,
               ("neurons", "LR"): 6.0, ("neurons", "TB"): 6.0},
}


@pytest.mark.parametrize("name", GALLERY)
def test_gallery_smallest_font_at_column_and_full_width(loaded, name: str) -> None:
    """Every gallery figure (each paper style, both flows) prints its smallest text at 6 pt
    or more at full width (6.9 in), and at least COLUMN_FLOOR in a 3.3 in column; a figure
    below 6 pt warns, naming the --depth that reads when one does. Every layer stays drawn."""
    for (style, direction), floor in COLUMN_FLOOR[name].items():
        for width in ("6.9in", "3.3in"):
            try:
                with warnings.catch_warnings(record=True) as rec:
                    warnings.simplefilter("always")
                    d = nnviz.draw(graph(loaded, name), style=style, theme=THEME,
                                   width=width, direction=direction)
            except NnvizError:
                assert floor is None, (name, style)
                break
            assert floor is not None, (name, style)
            pt = d.smallest_font_pt
            want = 6.0 if width == "6.9in" else floor
            assert pt >= want, (name, style, direction, width, pt)
            assert d.layout.height / d.layout.width * float(width[:-2]) <= 9.0 or \
                direction == "TB"  # a column of boxes is as tall as the network is deep
            said = " ".join(str(w.message) for w in rec)
            assert ("below 6 pt" in said) == (pt < 6), said
            if d.readable_with:
                assert d.readable_with in said
            if style == "graph":
                continue
            texts = text_boxes(build_scene(d.graph, d.layout, THEME))
            assert_no_overlap(texts)
            assert_inside(texts, d.layout.width, d.layout.height)
            scale = d.layout.extras.get("box_scale")
            if scale:  # smaller boxes, said in the flow note (and the CLI's size line)
                top = max((max(b["h"], b["w"]) for b in d.layout.extras["blocks"]),
                          default=0.0)  # an MLP's neurons figure has no box
                assert top <= paper_settings(THEME, "blocks")["max_height"] * scale + 0.01
                for col in d.layout.extras.get("columns", []):
                    assert col["radius"] <= paper_settings(THEME, "neurons")["radius"] * scale
                assert f"boxes at {scale:.0%}" in d.flow_note()
            check_represented(d.graph, d.layout)


def test_column_bracket_shares_the_arc_labels_column(loaded) -> None:
    """Top to bottom, ResNet-18's "×2 layer1.0 … layer1.1" bracket sits left of the skip
    arcs, where the arc labels ("downsample") take a column anyway and none sits beside
    layer1: no column of its own right of the labels; clear of every arc and label."""
    g = prepare(graph(loaded, "resnet18"), ViewOptions())
    lay = layout(g, style="blocks", theme=THEME, direction="TB")
    (fold,) = lay.extras["folds"]
    xs = [p[0] for p in fold["points"]]
    arcs = [p for s in lay.extras["skips"] for piece in s["pieces"] for p in piece]
    assert max(xs) < min(p[0] for p in arcs) - 2
    assert fold["label_pos"]["anchor"] == "end" and fold["label_pos"]["x"] < min(xs)
    labels_right = max(lay.extras["label_band"] + max(
        text_width(ln.text, 11 if ln.style == "title" else 9, ln.style == "title")
        for ln in box.lines) for box in lay.nodes.values())
    assert lay.width <= labels_right + THEME["spacing"]["margin"] + 0.5
    scene = build_scene(g, lay, THEME)
    assert_no_overlap(text_boxes(scene))
    assert_inside(text_boxes(scene), lay.width, lay.height)


@pytest.mark.parametrize("name", ["resnet18", "gpt", "mlp"])
def test_legend_lists_exactly_the_kinds_drawn(loaded, name: str) -> None:
    """Each kind of layer has one colour from the theme (paper.kinds), norms and activations
    riding on a box are bands on it, and the legend names exactly the kinds that appear."""
    from nnviz.layout.paper_path import paper_kind

    g = prepare(graph(loaded, name), ViewOptions())
    for style in ("blocks", "neurons"):
        try:
            lay = layout(g, style=style, theme=THEME, direction="LR")
        except NnvizError:
            assert style == "neurons"  # a GPT has no neuron drawing
            continue
        drawn = lay.extras["blocks"] + lay.extras.get("columns", [])
        kinds = {paper_kind(g.nodes[d["id"]]) for d in drawn} - {"io"}
        for b in lay.extras["blocks"]:
            riders = {g.nodes[m].kind for m in b["members"][1:]} & {"norm", "activation"}
            assert set(b["bands"]["pre"]) | set(b["bands"]["post"]) == riders
            kinds |= riders
        legend = [e["kind"] for e in lay.extras.get("legend", [])]
        assert set(legend) == (kinds if len(kinds) > 1 else set()), (name, style)
        assert len(legend) == len(set(legend))
        scene = build_scene(g, lay, THEME)
        assert_no_overlap(text_boxes(scene))
        assert_inside(text_boxes(scene), lay.width, lay.height)
        # one fill per kind, and no two kinds share a fill (grayscale levels in the paper
        # theme: distinct luminances, so the figure survives a black-and-white printer)
        fills = [THEME.paper_kind_style(k)["fill"] for k in legend]
        assert len(set(fills)) == len(fills)


def test_paper_theme_kinds_are_grayscale_levels_far_apart() -> None:
    """The paper theme prints in black and white: the kinds a legend names most often are
    grays whose levels differ by at least 7 % (a laser printer keeps them apart)."""
    from nnviz.render.scene import to_rgb

    levels = []
    for kind in ("embedding", "conv", "linear", "norm", "pool", "attention", "activation"):
        r, g, b = to_rgb(THEME.paper_kind_style(kind)["fill"])
        assert r == g == b, kind
        levels.append(r / 255)
    levels.sort()
    assert min(b - a for a, b in zip(levels, levels[1:])) >= 0.07


def test_auto_proportions_make_a_vgg_pyramid_obvious(loaded) -> None:
    """visualkeras' layered view makes a VGG a pyramid: maps shrink, channels thicken. With
    the default (auto) proportions a VGG's boxes are true to scale (64 -> 8 pixels is
    8x shorter, 32 -> 128 channels 4x thicker); a ResNet, whose maps span 224 -> 7, falls
    back to the square root so its 7x7 maps stay visible."""
    g = prepare(graph(loaded, "vgg"), ViewOptions())
    blocks = layout(g, style="blocks", theme=THEME).extras["blocks"]
    convs = [b for b in blocks if b["kind"] == "conv"]
    pools = [b for b in blocks if b["kind"] == "pool"]
    assert convs[-1]["w"] == pytest.approx(4 * convs[0]["w"], rel=0.01)  # 128 vs 32 channels
    assert convs[0]["h"] == pytest.approx(8 * pools[-1]["h"], rel=0.01)  # 64 vs 8 pixels
    assert [p["h"] for p in pools] == sorted((p["h"] for p in pools), reverse=True)
    sqrt = layout(g, style="blocks", theme=THEME, proportions="sqrt").extras["blocks"]
    sqrt_convs = [b for b in sqrt if b["kind"] == "conv"]
    assert sqrt_convs[-1]["w"] / sqrt_convs[0]["w"] == pytest.approx(2, rel=0.01)
    res = layout(prepare(graph(loaded, "resnet18"), ViewOptions()), style="blocks",
                 theme=THEME).extras["blocks"]
    heights = [b["h"] for b in res if b["kind"] == "conv"]
    assert min(heights) > THEME["paper"]["blocks"].get("min_height", 10)  # 7x7 not clamped


def test_unreadable_column_figure_names_a_depth_that_reads(loaded) -> None:
    """ResNet-18's 20 boxes cannot print at 6 pt in a 2.5 in column (even wrapped, with
    half-size boxes and narrow label lines, within a page's height): the warning names the
    --depth that does, with its box count and size, and that depth really prints that
    size."""
    g = graph(loaded, "resnet18")
    with pytest.warns(UserWarning, match=r"below 6 pt.*try --depth 1 \((\d+) boxes, "
                                         r"([0-9.]+) pt\)") as rec:
        d = nnviz.draw(g, style="blocks", theme=THEME, width="2.5in", direction="LR")
    assert d.smallest_font_pt < 6
    import re

    boxes, pt = re.search(r"--depth 1 \((\d+) boxes, ([0-9.]+) pt\)",
                          str(rec[0].message)).groups()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shallow = nnviz.draw(g, style="blocks", theme=THEME, width="2.5in", direction="LR",
                             view=ViewOptions(depth=1))
    assert len(shallow.layout.nodes) == int(boxes) < len(d.layout.nodes)
    assert shallow.smallest_font_pt == pytest.approx(float(pt), abs=0.05)
