"""The SVG column writer: node and edge runs written from columns must say exactly what the
item-by-item writer says for the layers they expand to, and bulk number formatting must
print exactly what the one-number formatter prints."""

from __future__ import annotations

import random

from bench.graphs import transformer
from nnviz.layout import layout
from nnviz.passes import annotate
from nnviz.render.build import build_scene
from nnviz.render.scene import EdgeRun, NodeRun, Scene
from nnviz.render.svg import _f, format_numbers, scene_to_svg
from nnviz.theme import load_theme


def test_bulk_numbers_print_like_one_number() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, 0.004, -0.004, 0.005, -0.005, 0.015, 1.005, 2.675, -2.675, 12.5,
              12.50001, -12.5, 100.0, -100.0, 0.1 + 0.2, 1e11, -1e11, 1e13, 123456789.125,
              float("inf"), float("-inf"), float("nan"), 5e-324, 0.995, -0.995, 99.995]
    values += [rng.uniform(-5000, 5000) for _ in range(3000)]
    values += [round(rng.uniform(-5000, 5000), 2) for _ in range(3000)]
    values += [rng.randint(-5000, 5000) / 8 for _ in range(1000)]
    values += [k / 1000 for k in range(-3000, 3000)]  # every tie of the third decimal
    assert format_numbers(values) == [_f(v) for v in values]
    assert format_numbers([]) == []


def test_runs_write_what_their_layers_write() -> None:
    """A grouped transformer (frames, reference stubs of the shared mask, splines): the
    scene's runs written from columns == the same scene expanded into plain layers."""
    graph = annotate(transformer(400))
    theme = load_theme()
    lay = layout(graph, theme=theme)
    scene = build_scene(graph, lay, theme)
    runs = [type(r) for r in scene.runs]
    assert NodeRun in runs and EdgeRun in runs
    assert any(b.shape == "stub" for b in lay.nodes.values())
    assert any(e.spline for e in lay.edges) and any(not e.spline for e in lay.edges)
    plain = Scene(scene.width, scene.height, scene.background, scene.title,
                  list(scene.layers))
    assert all(type(r) is tuple for r in plain.runs)
    assert scene_to_svg(scene) == scene_to_svg(plain)
    assert scene_to_svg(scene, embed_font=True) == scene_to_svg(plain, embed_font=True)
