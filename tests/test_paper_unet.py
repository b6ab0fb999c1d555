"""UNet paper figures (issue 17): the skips land where the skip tensor enters the decoder
(the concatenation and the decoder conv it feeds), and every arc is an edge of the view."""

from __future__ import annotations

import os

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
