"""Layout quality regressions of the layered engine (issue 4): staircases, stub colours,
edges through boxes, wasted canvas."""

from __future__ import annotations

import sys
from pathlib import Path

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
    from nnviz.render.scene import Rect, build_scene

    g = _block_stack(8)
    g.nodes["h0"].kind = "attention"  # the mask comes out of an attention block
    lay = layout(g, theme=THEME)
    scene = build_scene(g, lay, THEME)
    stubs = [(data, items) for cls, data, items in scene.layers
             if cls == "node" and "::stub::" in data["id"]]
    assert len(stubs) == 6
    want = THEME.kind_style("attention")
    assert want["fill"] != THEME.kind_style("group")["fill"]
    for data, items in stubs:
        rect = next(it for it in items if isinstance(it, Rect))
        assert data["kind"] == "attention"
        assert (rect.fill, rect.stroke) == (want["fill"], want["stroke"])
