"""Paper styles as Scenes: ``neurons`` (circles and connections) and ``blocks`` (3-D boxes).

The layout engines (nnviz.layout.neurons / nnviz.layout.blocks) put all geometry into
``Layout.extras``; this module only turns it into shapes, colours and text, so the SVG, PNG,
PDF and TikZ outputs of a paper figure are the same picture.
"""

from __future__ import annotations

import math

from nnviz.errors import NnvizError
from nnviz.ir import Graph
from nnviz.layout.model import LabelLine, Layout
from nnviz.render.scene import (
    Circle,
    Item,
    Path,
    Rect,
    Scene,
    Text,
    edge_items,
    text_block,
    to_rgb,
)
from nnviz.theme import Theme, paper_settings


def shade(color: str, amount: float) -> str:
    """Darken (amount > 0) or lighten (amount < 0) a #rrggbb colour, for the 3-D faces."""
    rgb = to_rgb(color)
    if rgb is None:
        return color
    if amount >= 0:
        out = [round(c * (1 - amount)) for c in rgb]
    else:
        out = [round(c + (255 - c) * -amount) for c in rgb]
    return "#" + "".join(f"{max(0, min(255, c)):02x}" for c in out)


def _settings(theme: Theme, style: str) -> dict:
    return paper_settings(theme, style)


def _label(theme: Theme, box_lines, x: float, top: float, anchor: str) -> list[Text]:
    font = theme["font"]
    return text_block(box_lines, theme, x, top, font["color"], font.get("muted", font["color"]),
                      anchor=anchor)


def _strip(a: tuple, b: tuple, c: tuple, d: tuple, t0: float, t1: float) -> list:
    """The part of quad a-b-c-d between fractions t0 and t1 along a->d (and b->c)."""
    def at(p: tuple, q: tuple, t: float) -> tuple:
        return (round(p[0] + (q[0] - p[0]) * t, 2), round(p[1] + (q[1] - p[1]) * t, 2))
    return [at(a, d, t0), at(b, c, t0), at(b, c, t1), at(a, d, t1)]


MIN_BAND_PT = 0.8  # a rider band's fill, between its lines, at least this where it prints
BAND_PX = 5.0  # a band's thickness at natural size (a fraction of a thin box, at most this)
BANDS_AT_MOST = 0.8  # of a box's front: the face along the flow keeps the box's colour
SEPARATOR = 0.4  # a band's inner line, in box strokes


def band_px(length: float, count: int, pt_per_px: float, stroke: float) -> float:
    """How thick (scene px) each of ``count`` rider bands across a box ``length`` px long is:
    a fraction of the box, at most BAND_PX, and thick enough that MIN_BAND_PT of fill shows
    between the box's outline and the band's line where it prints (``pt_per_px``: the
    printed scale; ``stroke``: the box outline), so a pre-LN band on a thin sequence box is
    still seen at a column's width. All bands together cover at most BANDS_AT_MOST of the
    front; the box is never made thicker for them (its size is its tensor's), and the side
    face along the flow keeps its colour."""
    lines = stroke * (0.5 + SEPARATOR / 2)  # half the outline, half the separator
    want = max(min(0.3 * length, BAND_PX), MIN_BAND_PT / max(pt_per_px, 1e-9) + lines)
    return math.floor(min(want, BANDS_AT_MOST * length / max(count, 1)) * 1000) / 1000


def print_scale(layout: Layout) -> float:
    """pt per scene px where the figure is printed: its ``--width`` (the paper fit records
    it), else its natural size (96 px per inch)."""
    width_in = layout.extras.get("print_width_in")
    if width_in:
        # the scene's canvas is a whole number of px (Scene), and that is what is scaled
        return float(width_in) * 72.0 / max(math.ceil(layout.width - 1e-6), 1.0)
    return 0.75


def _block_items(graph: Graph, blk: dict, theme: Theme, sw: float, horizontal: bool,
                 pt_per_px: float = 0.75) -> list:
    """A 3-D box: front face, lit top face, shaded side face; the norms and activations it
    carries as bands across its input or output end (PlotNeuralNet's Conv+ReLU look)."""
    style = theme.paper_kind_style(blk["kind"])
    fill = style["fill"]
    stroke = style.get("stroke", theme["node"]["stroke"])
    node = graph.nodes.get(blk["id"])
    ov = blk.get("overlay") or (node.meta.get("overlay") if node is not None else None)
    fsw = sw
    bands = blk.get("bands") or {}
    if ov:  # `--overlay`: the block is tinted by its value, outlined when flagged
        fill = ov["fill"]
        bands = {}  # the value's colour is the whole box's
        if ov.get("flags"):
            from nnviz.render.scene import OVERLAY_FLAG_STROKE

            stroke, fsw = OVERLAY_FLAG_STROKE, max(sw, 2.5)
    x, y, w, h, dx, dy = (float(blk[k]) for k in ("x", "y", "w", "h", "dx", "dy"))
    lit = (lambda c: shade(c, -0.35)) if blk["kind"] != "io" else (lambda c: shade(c, 0.06))
    f = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    t = [(x, y), (x + dx, y + dy), (x + w + dx, y + dy), (x + w, y)]
    sd = [(x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)]
    pre, post = bands.get("pre", []), bands.get("post", [])
    if not pre and not post:
        return [Path(f, fill, stroke, fsw, closed=True),
                Path(t, lit(fill), stroke, sw, closed=True),
                Path(sd, shade(fill, 0.18), stroke, sw, closed=True)]
    # Faces filled first, then the bands, then every outline on top: a band's own outline
    # would eat a thin band (two dark lines with nothing between at a column's width).
    items: list[Item] = [Path(f, fill, None, 0.0, closed=True),
                         Path(t, lit(fill), None, 0.0, closed=True),
                         Path(sd, shade(fill, 0.18), None, 0.0, closed=True)]
    # Bands run across the flow: LR flows along x (stripes on the front and top faces), TB
    # along y (stripes on the front and side faces). The end faces keep the box's colour:
    # a stripe-coloured end face (the big one, depth x height) would read as another kind
    # of layer.
    length = w if horizontal else h
    frac = band_px(length, len(pre) + len(post), pt_per_px, sw) / max(length, 1e-9)
    order = [(k, i) for i, k in enumerate(pre)] + \
        [(k, len(post) - 1 - i) for i, k in enumerate(post)]
    if horizontal:  # a=(x,y) b=(x,y+h) along +x; the top face along +x too
        faces = [((x, y), (x, y + h), (x + w, y + h), (x + w, y)),
                 ((x, y), (x + dx, y + dy), (x + w + dx, y + dy), (x + w, y))]
    else:  # the front and the side face along +y
        faces = [((x, y), (x + w, y), (x + w, y + h), (x, y + h)),
                 ((x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h))]
    edges: list[Item] = []
    for n, (kind, slot) in enumerate(order):
        bfill = theme.paper_kind_style(kind)["fill"]
        is_pre = n < len(pre)
        t0, t1 = (slot * frac, (slot + 1) * frac) if is_pre else \
            (1 - (slot + 1) * frac, 1 - slot * frac)
        upward = bool(blk.get("upward"))
        if upward:  # a U's decoder arm flows bottom to top: its input end is below
            t0, t1 = 1 - t1, 1 - t0
        inner = t1 if is_pre != upward else t0  # the band's edge toward the box's middle
        for face, paint in zip(faces, (bfill, lit(bfill) if horizontal else
                                       shade(bfill, 0.18))):
            strip = _strip(*face, t0, t1)
            items.append(Path(strip, paint, None, 0.0, closed=True))
            edge = _strip(*face, inner, inner)
            edges.append(Path([edge[0], edge[1]], None, stroke, sw * SEPARATOR))
    items += edges
    items += [Path(f, None, stroke, fsw, closed=True), Path(t, None, stroke, sw, closed=True),
              Path(sd, None, stroke, sw, closed=True)]
    return items


def join_mark_items(mark: dict, stroke: str, background: str | None,
                    width: float) -> list[Item]:
    """A concatenation mark: a ring filled with the background (it hides the arrow under
    it) and two upright bars, "||" as in PlotNeuralNet's UNet; drawn as lines, not a glyph,
    so it prints the same in every format and in grayscale."""
    x, y, r = float(mark["x"]), float(mark["y"]), float(mark["r"])
    fill = background if background and to_rgb(background) is not None else "#ffffff"
    dx, dy = r * 0.3, r * 0.55
    return [Circle(x, y, r, fill, stroke, width),
            Path([(round(x - dx, 2), round(y - dy, 2)), (round(x - dx, 2), round(y + dy, 2))],
                 None, stroke, width),
            Path([(round(x + dx, 2), round(y - dy, 2)), (round(x + dx, 2), round(y + dy, 2))],
                 None, stroke, width)]


def legend_items(layout: Layout, theme: Theme) -> list[Item]:
    """The kinds the figure shows: a swatch in each kind's colour and its name."""
    font = theme["font"]
    size = float(font["size"])
    items: list[Item] = []
    for e in layout.extras.get("legend", []):
        style = theme.paper_kind_style(e["kind"])
        sx, sy, sw, sh = e["swatch"]
        items.append(Rect(sx, sy, sw, sh, style["fill"],
                          style.get("stroke", theme["node"]["stroke"]), 0.6))
        pos = e["text"]
        items.append(Text(pos["x"], pos["y"], e["label"], size,
                          font.get("muted", font["color"]), anchor=pos["anchor"]))
    return items


def sequence_scene(graph: Graph, layout: Layout, theme: Theme) -> Scene:
    """Both paper styles: blocks, neuron columns, their connections and the skip arcs."""
    ncfg, bcfg = _settings(theme, "neurons"), _settings(theme, "blocks")
    scene = Scene(layout.width, layout.height, theme["background"], graph.name)
    ex = layout.extras
    cols = ex.get("columns", [])
    r = float(ex.get("radius", 0.0))
    conn: list[Item] = []
    for a, b in ex.get("connections", []):
        for p in cols[a]["centers"]:
            for q in cols[b]["centers"]:
                conn.append(Path([tuple(p), tuple(q)], None, ncfg["connection"],
                                 ncfg["connection_width"]))
    for src, b in ex.get("fans", []):
        for q in cols[b]["centers"]:
            conn.append(Path([tuple(src), tuple(q)], None, ncfg["connection"],
                             ncfg["connection_width"]))
    if conn:
        scene.add("connections", conn)
    skip_ends = {(s["src"], s["dst"]) for s in ex.get("skips", [])}
    arc_theme = Theme({**theme, "edge": {**theme["edge"],
                                         "stroke": bcfg.get("arc", theme["edge"]["stroke"])}})
    for e in layout.edges:
        if len(e.points) < 2:
            continue
        if not e.tensor and (e.src, e.dst) in skip_ends:
            scene.add("skip", edge_items(e, arc_theme), src=e.src, dst=e.dst)
        else:
            scene.add("edge", edge_items(e, theme), src=e.src, dst=e.dst)
    marks: list[Item] = []
    for s in ex.get("skips", []):
        if s.get("join"):
            marks += join_mark_items(s["join"], bcfg.get("arc", theme["edge"]["stroke"]),
                                     theme["background"], float(theme["edge"]["width"]))
    if marks:
        scene.add("skip-join", marks)
    muted = theme["font"].get("muted", theme["font"]["color"])
    size = float(theme["font"]["size"])
    labels = [Text(s["label_pos"]["x"], s["label_pos"]["y"], s["label"], size, muted,
                   anchor=s["label_pos"]["anchor"]) for s in ex.get("skips", []) if s["label"]]
    if labels:
        scene.add("skip-label", labels)
    for fold in ex.get("folds", []):  # a bracket under (beside) a folded run of boxes
        pos = fold["label_pos"]
        scene.add("fold", [
            Path([tuple(p) for p in fold["points"]], None, muted, 0.8),
            *_label(theme, [LabelLine(t, "detail") for t in fold.get("lines", [fold["label"]])],
                    pos["x"], pos["y"],
                    pos["anchor"])])
    sw = float(bcfg["stroke_width"])
    pt_per_px = print_scale(layout)
    drawn: dict[str, list[Item]] = {}
    for blk in ex.get("blocks", []):
        drawn[blk["id"]] = _block_items(graph, blk, theme, sw,
                                        layout.direction in ("LR", "RL"), pt_per_px)
    for col in cols:
        style = theme.paper_kind_style(col["kind"])
        stroke = style.get("stroke", theme["node"]["stroke"])
        items: list[Item] = [Circle(x, y, r, style["fill"], stroke, ncfg["stroke_width"])
                             for x, y in col["centers"]]
        items += [Circle(x, y, max(1.2, r * 0.18), muted, None) for x, y in col["ellipsis"]]
        drawn[col["id"]] = items
    for nid, box in layout.nodes.items():  # in flow order
        entry = next((b for b in ex.get("blocks", []) if b["id"] == nid), None) or \
            next(c for c in cols if c["id"] == nid)
        lab = entry["label"]
        items = drawn[nid] + _label(theme, box.lines, lab["x"], lab["y"], lab["anchor"])
        scene.add("node", items, id=nid, kind=entry["kind"])
    legend = legend_items(layout, theme)
    if legend:
        scene.add("legend", legend)
    return scene


def paper_scene(graph: Graph, layout: Layout, theme: Theme) -> Scene:
    if layout.style in ("neurons", "blocks"):
        return sequence_scene(graph, layout, theme)
    raise NnvizError(f"unknown drawing style '{layout.style}'")
