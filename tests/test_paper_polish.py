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
