"""Issue 17, graph style: on real drawings no edge runs through a group frame's title, and
an edge that runs along a frame's border keeps a visible clearance from it (a line a few
px inside a border reads as the border). Checked on the layout model's geometry and the
title patches the renderer draws, for hand-written torchvision-style ResNet-18, a UNet and
a GPT-style decoder (tests/paper_models.py), default and expanded views, all directions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra builds the real models")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_models as pm  # noqa: E402

import nnviz  # noqa: E402
from nnviz.passes import ViewOptions  # noqa: E402
from nnviz.render.build import build_scene  # noqa: E402
from nnviz.render.scene import Rect  # noqa: E402

CLEARANCE = 6.0  # px between an edge and a frame border it runs along


def _samples(points: list[tuple[float, float]], spline: bool) -> np.ndarray:
    pts = np.asarray(points, dtype=float)
    t = np.linspace(0, 1, 40)[:, None]
    if not spline:
        return np.concatenate([a + t * (b - a) for a, b in zip(pts, pts[1:])])
    return np.concatenate([(1 - t) ** 3 * p0 + 3 * t * (1 - t) ** 2 * p1
                           + 3 * t ** 2 * (1 - t) * p2 + t ** 3 * p3
                           for p0, p1, p2, p3 in (pts[i:i + 4] for i in range(0, len(pts) - 1, 3))])


def title_hits(d) -> list[tuple]:
    """(frame path, edge) for every edge that passes through a frame title's patch."""
    scene = build_scene(d.graph, d.layout, d.theme)
    patches = [(data["path"], items[0]) for cls, data, items in scene.layers
               if cls == "group-label"]
    assert patches and all(isinstance(p, Rect) for _, p in patches)
    out = []
    for e in d.layout.edges:
        s = _samples(e.points, e.spline)
        for path, p in patches:
            inside = ((s[:, 0] > p.x) & (s[:, 0] < p.x + p.w)
                      & (s[:, 1] > p.y) & (s[:, 1] < p.y + p.h))
            if inside.any():
                out.append((path, e.src, e.dst))
    return out


def border_huggers(d, clear: float = CLEARANCE) -> list[tuple]:
    """(frame path, edge, distance) for every edge piece that runs along a frame border
    (within 27 degrees of it) closer than ``clear``; crossing a border (a port) is fine."""
    out = []
    for e in d.layout.edges:
        s = _samples(e.points, e.spline)
        a, b = s[:-1], s[1:]
        mid = (a + b) / 2
        dx, dy = np.abs(b[:, 0] - a[:, 0]), np.abs(b[:, 1] - a[:, 1])
        flat, upright = dx > 2 * dy + 1e-9, dy > 2 * dx + 1e-9
        for f in d.layout.groups:
            in_x = (mid[:, 0] > f.x) & (mid[:, 0] < f.x + f.w)
            in_y = (mid[:, 1] > f.y) & (mid[:, 1] < f.y + f.h)
            sides = ((f.y, 1, flat, in_x), (f.y + f.h, 1, flat, in_x),
                     (f.x, 0, upright, in_y), (f.x + f.w, 0, upright, in_y))
            for border, coord, along, rng in sides:
                dist = np.abs(mid[:, coord] - border)
                m = along & rng & (dist < clear)
                if m.any():
                    out.append(("/".join(f.path), e.src, e.dst, round(float(dist[m].min()), 2)))
    return out


@pytest.fixture(scope="module")
def graphs() -> dict:
    return {name: pm.load_torch(name) for name in ("resnet18", "unet", "gpt")}


VIEWS = {"default": None, "expanded": ViewOptions(depth=99, fold=False)}
CASES = [("resnet18", "default", "TB"), ("resnet18", "default", "BT"),
         ("resnet18", "expanded", "TB"), ("resnet18", "expanded", "LR"),
         ("unet", "expanded", "TB"), ("unet", "expanded", "LR"),  # (its default has no frame)
         ("gpt", "default", "TB"), ("gpt", "expanded", "TB"), ("gpt", "expanded", "RL")]


@pytest.mark.parametrize(("name", "view", "direction"), CASES)
def test_edges_keep_off_frame_titles_and_borders(graphs, name: str, view: str,
                                                 direction: str) -> None:
    d = nnviz.draw(graphs[name], view=VIEWS[view], direction=direction)
    assert len(d.layout.groups) >= 3, "these views have frames"
    assert title_hits(d) == []
    assert border_huggers(d) == []


def test_the_checks_see_a_title_and_a_border_hugger() -> None:
    """The two checks fail on a drawing that has what they look for."""
    from nnviz.ir import Graph
    from nnviz.layout.model import EdgePath, GroupFrame, Layout
    from nnviz.theme import load_theme

    class D:  # what nnviz.draw returns, as far as the checks read it
        graph, theme = Graph(name="g"), load_theme()
        layout = Layout(300, 200, groups=[GroupFrame(("blk",), "a title that fills the top",
                                                     10, 20, 180, 150)])

    # one edge through the whole title band, one 3 px inside the frame's right border
    D.layout.edges = [EdgePath("a", "b", "t", [(5.0, 28.0), (250.0, 28.0)]),
                      EdgePath("c", "d", "t", [(187.0, 60.0), (187.0, 150.0)])]
    assert title_hits(D) == [("blk", "a", "b")]
    assert ("blk", "c", "d", 3.0) in border_huggers(D)


def test_viewer_draws_each_title_where_the_svg_does(graphs, monkeypatch) -> None:
    """The HTML viewer's page data carries each frame title's patch (tx, tw): the very box
    the SVG scene draws for the same view layout, which no edge of the view crosses. ResNet-18's
    second blocks have an edge entering at the frame's left, so their titles move right."""
    from nnviz.theme import load_theme
    from nnviz.viewer import page as page_mod

    theme = load_theme()
    d = nnviz.draw(graphs["resnet18"], theme=theme)
    seen: list = []
    pack_view = page_mod._pack_view

    def spy(graph, view, lay, *rest):  # the layout each view's data is packed from
        out = pack_view(graph, view, lay, *rest)
        seen.append((lay, out["frame"]))
        return out

    monkeypatch.setattr(page_mod, "_pack_view", spy)
    page_mod.pack_page(d.graph, d.layout, theme, "layered", "TB")
    moved = 0
    for lay, frame in seen:
        if not frame["group"]:
            continue

        class V:  # the view drawn as an SVG scene: its title patches and its edges
            graph, theme, layout = d.graph, d.theme, lay

        scene = build_scene(d.graph, lay, theme)
        patches = {data["path"]: items[0] for cls, data, items in scene.layers
                   if cls == "group-label"}
        frames = sorted(lay.groups, key=lambda f: (len(f.path), f.path))
        assert len(frames) == len(frame["group"]) == len(patches)
        for fr, tx, tw in zip(frames, frame["tx"], frame["tw"]):
            p = patches["/".join(fr.path)]
            assert (tx, tw) == (round(p.x, 1), round(p.w, 1)), fr.path
            moved += tx > fr.x + 6.05
        assert title_hits(V) == []
    assert moved >= 3
