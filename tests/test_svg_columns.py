"""The SVG column writer: node and edge runs written from columns must say exactly what the
item-by-item writer says for the layers they expand to, and bulk number formatting must
print exactly what the one-number formatter prints."""

from __future__ import annotations

import random

from bench.graphs import transformer
from nnviz.layout import layout
from nnviz.passes import annotate
from nnviz.render import svg
from nnviz.render.build import build_scene
from nnviz.render.scene import EdgeRun, NodeRun, Scene
from nnviz.render.svg import _f, _number_cols, scene_to_svg
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
    values += [k / 100 for k in range(-200_000, 200_000, 7)]  # signs before every width
    rows = _number_cols(values)
    assert [bytes(r).replace(b"\0", b"").decode() for r in rows] == [_f(v) for v in values]
    assert _number_cols([]).shape[0] == 0


def test_runs_write_what_their_layers_write(monkeypatch) -> None:
    """A grouped transformer (frames, reference stubs of the shared mask, splines): the
    scene's runs written from columns == the same scene expanded into plain layers."""
    monkeypatch.setattr(svg, "_BULK_MIN", 0)  # the bulk writers, whatever the size
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


def test_bulk_writers_on_awkward_runs(monkeypatch) -> None:
    """Columns a real model rarely has: ids and labels needing escapes or single quotes,
    non-ASCII text, negative and huge coordinates, an edge without arrowhead, a spline
    next to a polyline, a box without text lines."""
    monkeypatch.setattr(svg, "_BULK_MIN", 0)
    nodes = NodeRun()
    nodes.rect_styles = [("#fff", "#000", 1.0, 5.0, None), ("#eee", None, 1.0, 0.0, (3, 2))]
    nodes.text_styles = [(12.0, "#111", True, "middle"), (10.0, "#555", False, "middle")]
    boxes = [("a\"b", "conv", (-12.5, 0.004, 88.0, 53.25), ["Conv & <ReLU>", "x'y"]),
             ("plain", "io", (1e13, 2.675, 0.0, -0.0), []),
             ("é/ü", "norm", (3.0, -7.125, 1e-9, 99.995), ["Ünïcode", "(b, 3)", "z"])]
    for i, (bid, kind, (x, y, w, h), texts) in enumerate(boxes):
        nodes.ids.append(bid)
        nodes.kinds.append(kind)
        for col, v in zip((nodes.x, nodes.y, nodes.w, nodes.h), (x, y, w, h)):
            col.append(v)
        nodes.rect_style.append(i % 2)
        nodes.cx.append(x + w / 2)
        for j, t in enumerate(texts):
            nodes.ty.append(y + 10.5 * (j + 1))
            nodes.text.append(t)
            nodes.text_style.append(j % 2)
        nodes.text_end.append(len(nodes.text))
    edges = EdgeRun("#333", 1.2, "#333")
    for src, dst, pts, spline, head in [
            ("a\"b", "plain", [(0.0, 0.0), (-5.5, 10.0)], False,
             [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]),
            ("plain", "é/ü", [(1.0, 1.0), (1.0, 5.0), (9.0, 5.0), (9.0, 9.0)], True, None),
            ("é/ü", "a\"b", [(2.0, 2.0), (3.0, 3.0), (4.0, 4.0)], False,
             [(4.0, 4.0), (3.5, 3.25), (4.5, 3.75)])]:
        edges.src.append(src)
        edges.dst.append(dst)
        edges.points.append(pts)
        edges.spline.append(spline)
        edges.heads.append(head)
    scene = Scene(100.0, 80.0, "#ffffff", "t")
    scene.add_run(edges)
    scene.add_run(nodes)
    plain = Scene(scene.width, scene.height, scene.background, scene.title,
                  list(scene.layers))
    assert scene_to_svg(scene) == scene_to_svg(plain)


def test_scene_columns_in_bulk_equal_box_by_box(monkeypatch) -> None:
    """graph_scene's numpy path (arrowheads and box numbers for all edges and boxes at once)
    builds the very items its edge-by-edge and box-by-box path builds: on a grouped
    transformer with reference stubs and splines, boxes outlined by a diff, tinted by an
    overlay (flagged or not), and labels needing cleaning."""
    from nnviz.render import scene as scene_mod

    graph = annotate(transformer(400))
    theme = load_theme()
    nodes = list(graph.nodes.values())
    nodes[3].meta["diff"] = "added"
    nodes[5].meta["diff"] = "changed"
    nodes[7].meta["overlay"] = {"fill": "#123456", "color": "#fefefe"}
    nodes[9].meta["overlay"] = {"fill": "#654321", "color": "#010101", "flags": ["nan"]}
    nodes[11].name = "tab\there\u202e"
    lay = layout(graph, theme=theme)
    # an edge ending on a repeated point (its head looks further back) and a short spline
    lay.edges[0].points = [*lay.edges[0].points, lay.edges[0].points[-1]]
    lay.edges[1].points = lay.edges[1].points[:2] + lay.edges[1].points[1:2]
    lay.edges[1].spline = True
    monkeypatch.setattr(scene_mod, "_BULK_POINTS", 1 << 40)
    monkeypatch.setattr(scene_mod, "_BULK_BOXES", 1 << 40)
    one_by_one = build_scene(graph, lay, theme)
    monkeypatch.setattr(scene_mod, "_BULK_POINTS", 0)
    monkeypatch.setattr(scene_mod, "_BULK_BOXES", 0)
    bulk = build_scene(graph, lay, theme)
    assert any(type(r) is EdgeRun and r.flat is not None for r in bulk.runs)
    assert bulk.layers == one_by_one.layers
    assert scene_to_svg(bulk) == scene_to_svg(one_by_one)
