"""A flat list of drawing primitives built from a Layout: what every vector format draws.

SVG, PDF and TikZ all serialise the same Scene, so the three formats share one geometry (and
the paper styles work in every format for free). Coordinates are px (96 per inch), origin
top-left, y down; each backend converts to its own units. Renderers make no layout decisions:
the scene only turns boxes, edges and frames into shapes, colours and text runs.
"""

from __future__ import annotations

import math
import re
from itertools import chain
from operator import attrgetter
from typing import Any, NamedTuple

from nnviz.ir import Graph, Node
from nnviz.layout.labels import font_size
from nnviz.layout.model import EdgePath, LabelLine, Layout, NodeBox
from nnviz.layout.titles import title_boxes
from nnviz.text import ascent, line_height, text_width
from nnviz.theme import Theme

Point = tuple[float, float]

# Newlines, tabs and other control characters in user strings (layer names) would break a
# line of text or the output file's syntax (XML forbids most of them); each becomes a space.
# Bidi overrides/isolates go too: a name must not reverse the text drawn after it.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
                      "\ufffe\uffff]")


def clean_text(text: str) -> str:
    text = str(text)
    # Printable ASCII has none of the characters above: skip the regex for the usual label.
    if text.isascii() and text.isprintable():
        return text
    return _CONTROL.sub(" ", text)


_PAINTED: dict[str, str | None] = {}  # a drawing uses a handful of colours, 100k times each


def paint(color: str | None) -> str | None:
    """A theme colour, or None for no paint ("none", "transparent" or empty in a theme)."""
    if color is None:
        return None
    if type(color) is str:
        try:
            return _PAINTED[color]
        except KeyError:
            pass
    c = str(color).strip()
    out = None if c.lower() in ("", "none", "transparent") else c
    if type(color) is str and len(_PAINTED) < 4096:
        _PAINTED[color] = out
    return out


# CSS colour names a theme file is likely to use; anything else should be written as #rrggbb.
CSS_NAMES = {
    "black": "#000000", "white": "#ffffff", "gray": "#808080", "grey": "#808080",
    "silver": "#c0c0c0", "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3",
    "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9", "dimgray": "#696969", "red": "#ff0000",
    "maroon": "#800000", "orange": "#ffa500", "yellow": "#ffff00", "olive": "#808000",
    "lime": "#00ff00", "green": "#008000", "teal": "#008080", "aqua": "#00ffff",
    "cyan": "#00ffff", "blue": "#0000ff", "navy": "#000080", "purple": "#800080",
    "fuchsia": "#ff00ff", "magenta": "#ff00ff", "pink": "#ffc0cb", "brown": "#a52a2a",
    "whitesmoke": "#f5f5f5", "gainsboro": "#dcdcdc",
}


def to_rgb(color: str) -> tuple[int, int, int] | None:
    """(r, g, b) of '#rgb', '#rrggbb' (alpha digits ignored), 'rgb(r, g, b)' or a CSS name;
    None when the colour cannot be read (the caller picks a visible fallback)."""
    c = CSS_NAMES.get(color.strip().lower(), color.strip().lower())
    if c.startswith("rgb"):
        parts = c[c.find("(") + 1:c.rfind(")")].replace("/", ",").split(",")
        try:
            vals = [float(p.strip().rstrip("%")) * (2.55 if p.strip().endswith("%") else 1)
                    for p in parts[:3]]
        except ValueError:
            return None
        if len(vals) == 3:
            return tuple(max(0, min(255, round(v))) for v in vals)  # type: ignore[return-value]
        return None
    h = c.lstrip("#")
    if len(h) in (3, 4):
        h = "".join(ch * 2 for ch in h[:3])
    if len(h) in (6, 8) and all(ch in "0123456789abcdef" for ch in h):
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    return None


# The items are tuples (named fields, immutable): a 50k-node drawing makes ~300k of them, and
# a tuple is several times cheaper to make than a dataclass instance. Each class normalises
# its colours (paint) or text (clean_text) when built; hot builders that already hold
# normalised values make them with ``_new(Cls, (...))`` (tuple.__new__, no Python call).
_new = tuple.__new__


class _RectFields(NamedTuple):
    x: float
    y: float
    w: float
    h: float
    fill: str | None
    stroke: str | None
    width: float = 1.0
    radius: float = 0.0
    dash: tuple[float, float] | None = None


class Rect(_RectFields):
    __slots__ = ()

    def __new__(cls, x: float, y: float, w: float, h: float, fill: str | None,
                stroke: str | None, width: float = 1.0, radius: float = 0.0,
                dash: tuple[float, float] | None = None) -> Rect:
        return _new(cls, (x, y, w, h, paint(fill), paint(stroke), width, radius, dash))


class _CircleFields(NamedTuple):
    cx: float
    cy: float
    r: float
    fill: str | None
    stroke: str | None
    width: float = 1.0


class Circle(_CircleFields):
    __slots__ = ()

    def __new__(cls, cx: float, cy: float, r: float, fill: str | None, stroke: str | None,
                width: float = 1.0) -> Circle:
        return _new(cls, (cx, cy, r, paint(fill), paint(stroke), width))


class _PathFields(NamedTuple):
    points: list[Point]
    fill: str | None
    stroke: str | None
    width: float = 1.0
    spline: bool = False
    closed: bool = False
    dash: tuple[float, float] | None = None


class Path(_PathFields):
    """An open polyline, or a cubic Bezier (p0 (c1 c2 p)+) when ``spline``; ``closed`` fills."""

    __slots__ = ()

    def __new__(cls, points: list[Point], fill: str | None, stroke: str | None,
                width: float = 1.0, spline: bool = False, closed: bool = False,
                dash: tuple[float, float] | None = None) -> Path:
        return _new(cls, (points, paint(fill), paint(stroke), width, spline, closed, dash))


class _TextFields(NamedTuple):
    x: float
    y: float
    text: str
    size: float
    color: str
    bold: bool = False
    anchor: str = "middle"


class Text(_TextFields):
    """One line of text; ``y`` is the baseline, ``anchor`` is start/middle/end."""

    __slots__ = ()

    def __new__(cls, x: float, y: float, text: str, size: float, color: str,
                bold: bool = False, anchor: str = "middle") -> Text:
        return _new(cls, (x, y, clean_text(text), size, color, bold, anchor))


Item = Rect | Circle | Path | Text


Layer = tuple[str, dict[str, str], list[Item]]  # (css class, data attributes, items)


class Scene:
    """What every vector format draws: a canvas and its layers, each (css class, data
    attributes, items); SVG keeps the grouping, other formats flatten it.

    A big graph drawing keeps its node and edge layers as columns (:class:`NodeRun`,
    :class:`EdgeRun`: one entry per box or edge, no item objects): the SVG writer formats
    the columns directly, and ``layers`` expands them into the very items they stand for
    when a format walks items (PDF, TikZ), so every format still draws one geometry.
    """

    def __init__(self, width: float, height: float, background: str | None, title: str = "",
                 layers: list[Layer] | None = None) -> None:
        self.background = paint(background)  # None: transparent (a theme's "none")
        # A whole number of px: rasterisers round a fractional canvas up on their own, so an
        # integral canvas makes the PNG size (ceil(size * zoom)) and the PDF page agree.
        self.width = float(math.ceil(width - 1e-6))
        self.height = float(math.ceil(height - 1e-6))
        self.title = title
        self.runs: list[Layer | NodeRun | EdgeRun] = list(layers or [])
        self._layers: list[Layer] | None = None

    @property
    def layers(self) -> list[Layer]:
        """Every layer as (css class, data, items), runs expanded (once per scene)."""
        if self._layers is None:
            out: list[Layer] = []
            for run in self.runs:
                if type(run) is tuple:
                    out.append(run)
                else:
                    out.extend(run.expand())  # type: ignore[union-attr]
            self._layers = out
        return self._layers

    def add(self, cls: str, items: list[Item], **data: str) -> None:
        self.runs.append((cls, data, items))
        self._layers = None

    def add_run(self, run: NodeRun | EdgeRun) -> None:
        self.runs.append(run)
        self._layers = None

    def items(self) -> list[Item]:
        return [it for _, _, items in self.layers for it in items]


class NodeRun:
    """Consecutive ``node`` layers as columns: per box its id, kind, rectangle and the index
    of its rectangle's paint (``rect_styles``: (fill, stroke, width, radius, dash)); per
    text line (``text_end[i]`` ends box i's lines) its baseline, text and style index
    (``text_styles``: (size, colour, bold, anchor)), all lines of a box centred on ``cx``.
    A big drawing's number and index columns are numpy arrays (lists otherwise)."""

    __slots__ = ("ids", "kinds", "x", "y", "w", "h", "rect_style", "rect_styles", "cx",
                 "text_end", "ty", "text", "text_style", "text_styles")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.kinds: list[str] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.w: list[float] = []
        self.h: list[float] = []
        self.rect_style: list[int] = []
        self.rect_styles: list[tuple] = []
        self.cx: list[float] = []
        self.text_end: list[int] = []
        self.ty: list[float] = []
        self.text: list[str] = []
        self.text_style: list[int] = []
        self.text_styles: list[tuple] = []

    def numbers(self) -> int:
        """How many numbers the run's SVG has (the writer's choice of path)."""
        return 4 * len(self.ids) + 2 * len(self.text)

    def expand(self) -> list[Layer]:
        out: list[Layer] = []
        rs, ts = self.rect_styles, self.text_styles
        # a big drawing's columns are numpy arrays: their values as Python floats and ints
        x, y, w, h, cx, ty, rect_style, text_style, text_end = (
            c.tolist() if hasattr(c, "tolist") else c
            for c in (self.x, self.y, self.w, self.h, self.cx, self.ty, self.rect_style,
                      self.text_style, self.text_end))
        text = self.text
        start = 0
        for i, end in enumerate(text_end):
            items: list[Item] = [_new(Rect, (x[i], y[i], w[i], h[i], *rs[rect_style[i]]))]
            for j in range(start, end):
                items.append(_new(Text, (cx[i], ty[j], text[j], *ts[text_style[j]])))
            start = end
            out.append(("node", {"id": self.ids[i], "kind": self.kinds[i]}, items))
        return out


class EdgeArrays(NamedTuple):
    """An edge run's geometry as arrays (numpy): every edge's (already shortened) points in
    order, ``xy`` (points, 2), with ``count`` points per edge; ``heads`` (edges with a head,
    3, 2) and ``has_head`` per edge."""

    xy: Any
    count: Any
    heads: Any
    has_head: Any

    def lists(self) -> tuple[list[list[Point]], list[list[Point] | None]]:
        """The same geometry as EdgeRun's lists: per edge its points, and its head or None."""
        xy = list(map(tuple, self.xy.tolist()))
        heads = iter([list(map(tuple, h)) for h in self.heads.tolist()])
        points, start = [], 0
        for c in self.count.tolist():
            points.append(xy[start:start + c])
            start += c
        return points, [next(heads) if h else None for h in self.has_head.tolist()]


class EdgeRun:
    """Consecutive ``edge`` layers as columns: per edge its ends, its (already shortened)
    points, whether they are a spline, and its arrowhead's three points (or None); one
    stroke and one head fill for the run. A big drawing's run holds its geometry as arrays
    (``flat``, :class:`EdgeArrays`) and makes the lists only if a format walks items."""

    __slots__ = ("src", "dst", "_points", "spline", "_heads", "stroke", "width", "head_fill",
                 "flat")

    def __init__(self, stroke: str | None, width: float, head_fill: str | None,
                 flat: EdgeArrays | None = None) -> None:
        self.src: list[str] = []
        self.dst: list[str] = []
        self.spline: list[bool] = []
        self._points: list[list[Point]] | None = None if flat else []
        self._heads: list[list[Point] | None] | None = None if flat else []
        self.flat = flat
        self.stroke, self.width, self.head_fill = stroke, width, head_fill

    @property
    def points(self) -> list[list[Point]]:
        if self._points is None:
            self._points, self._heads = self.flat.lists()  # type: ignore[union-attr]
        return self._points

    @property
    def heads(self) -> list[list[Point] | None]:
        if self._heads is None:
            self._points, self._heads = self.flat.lists()  # type: ignore[union-attr]
        return self._heads

    def numbers(self) -> int:
        """How many numbers the run's SVG has (the writer's choice of path)."""
        if self.flat is not None:
            return 2 * (len(self.flat.xy) + 3 * len(self.flat.heads))
        return 2 * (sum(map(len, self.points)) + 3 * (len(self.heads) - self.heads.count(None)))

    def expand(self) -> list[Layer]:
        out: list[Layer] = []
        stroke, width, fill = self.stroke, self.width, self.head_fill
        for src, dst, pts, spline, head in zip(self.src, self.dst, self.points, self.spline,
                                               self.heads):
            items: list[Item] = [_new(Path, (pts, None, stroke, width, spline, False, None))]
            if head is not None:
                items.append(_new(Path, (head, fill, None, 1.0, False, True, None)))
            out.append(("edge", {"src": src, "dst": dst}, items))
        return out


# font size -> (ascent, line height): the shipped font's metrics never change, and a big
# drawing asks for the same two or three sizes a hundred thousand times.
_LINE_METRICS: dict[float, tuple[float, float]] = {}


def _line_metrics(size: float) -> tuple[float, float]:
    m = _LINE_METRICS.get(size)
    if m is None:
        m = _LINE_METRICS[size] = (ascent(size), line_height(size))
    return m


def text_block(lines: list[LabelLine], theme: Theme, cx: float, top: float, color: str,
               muted: str, gap: float | None = None, anchor: str = "middle") -> list[Text]:
    """Centred label lines starting at ``top``, with the same metrics layout used."""
    gap = theme["node"]["line_gap"] if gap is None else gap
    out: list[Text] = []
    y = top
    for ln in lines:
        size = font_size(theme, ln.style)
        asc, height = _line_metrics(size)
        out.append(Text(cx, y + asc, ln.text, size,
                        muted if ln.style == "detail" else color, bold=ln.style == "title",
                        anchor=anchor))
        y += height + gap
    return out


def block_height(lines: list[LabelLine], theme: Theme, gap: float | None = None) -> float:
    gap = theme["node"]["line_gap"] if gap is None else gap
    return (sum([_line_metrics(font_size(theme, ln.style))[1] for ln in lines])
            + gap * max(0, len(lines) - 1))


def _bezier_point(p0: Point, p1: Point, p2: Point, p3: Point, t: float) -> Point:
    s = 1 - t
    return (s**3 * p0[0] + 3 * s * s * t * p1[0] + 3 * s * t * t * p2[0] + t**3 * p3[0],
            s**3 * p0[1] + 3 * s * s * t * p1[1] + 3 * s * t * t * p2[1] + t**3 * p3[1])


def arrow_items(points: list[Point], spline: bool, color: str, width: float,
                size: float) -> tuple[list[Point], Path | None]:
    """The edge's points shortened under an explicit arrowhead polygon.

    An explicit triangle (not an SVG marker) draws the same in PDF and TikZ; shortening the
    line keeps its stroke from poking through the tip.
    """
    pts, head = _arrow(points, spline, size)
    if head is None:
        return pts, None
    return pts, _new(Path, (head, _PAINTED.get(color) or paint(color), None, 1.0, False, True,
                            None))


def _arrow(points: list[Point], spline: bool, size: float
           ) -> tuple[list[Point], list[Point] | None]:
    """arrow_items' geometry: (the shortened points, the arrowhead's three points or None)."""
    if len(points) < 2:
        return points, None
    tip = points[-1]
    if spline and len(points) >= 4:
        # Direction of the last cubic near its end; the control point may coincide with the tip.
        prev = _bezier_point(*points[-4:], 0.9)
    else:
        prev = points[-2]
        if math.dist(prev, tip) <= 1e-6:  # the usual edge ends on a distinct point
            for p in reversed(points[:-1]):
                if math.dist(p, tip) > 1e-6:
                    prev = p
                    break
    dx, dy = tip[0] - prev[0], tip[1] - prev[1]
    length = math.hypot(dx, dy)
    if length < 1e-6:
        return points, None
    ux, uy = dx / length, dy / length
    half = size * 0.4
    base = (tip[0] - ux * size, tip[1] - uy * size)
    head = [tip, (base[0] - uy * half, base[1] + ux * half),
            (base[0] + uy * half, base[1] - ux * half)]
    cut = min(size * 0.8, length * 0.9)
    new_end = (tip[0] - ux * cut, tip[1] - uy * cut)
    pts = points[:-1]
    pts.append(new_end)
    if spline and len(points) >= 4:
        # Pull the last control point along with the end so the curve keeps its tangent.
        c2 = points[-2]
        pts[-2] = (c2[0] - ux * cut, c2[1] - uy * cut)
    return pts, head


_BULK_POINTS = 2048  # edge points from which the arrowheads are computed with numpy


def _points_array(edges: list[EdgePath]) -> tuple[Any, Any]:
    """The edges' points as one (n, 2) numpy array, and the count per edge."""
    import numpy as np

    pts = list(map(attrgetter("points"), edges))
    count = np.fromiter(map(len, pts), dtype=np.int64, count=len(pts))
    return np.fromiter(chain.from_iterable(chain.from_iterable(pts)), dtype=np.float64,
                       count=2 * int(count.sum())).reshape(-1, 2), count


def _edge_arrays(edges: list[EdgePath], size: float, flat: tuple[Any, Any]) -> EdgeArrays:
    """_arrow of every edge at once (``flat``: their points, _points_array): the same
    arithmetic, one numpy operation per step over all edges instead of ~15 Python float
    operations per edge (a 50k-node drawing has 58k edges). Lengths are math.hypot's (as
    math.dist's), mapped over the differences; an edge whose last two points coincide (and
    a spline too short to be a curve whose do) is left to _arrow itself, which looks
    further back."""
    import numpy as np

    n = len(edges)
    pts = list(map(attrgetter("points"), edges))
    xy, count = flat
    last = np.cumsum(count) - 1
    tip = xy[last]
    curve = np.fromiter(map(attrgetter("spline"), edges), dtype=bool, count=n) & (count >= 4)
    prev = xy[last - 1]
    if curve.any():  # _bezier_point(*points[-4:], 0.9), term by term in the same order
        t = 0.9
        s = 1 - t
        c = last[curve]
        prev[curve] = (s**3 * xy[c - 3] + 3 * s * s * t * xy[c - 2] + 3 * s * t * t * xy[c - 1]
                       + t**3 * xy[c])
    d = tip - prev
    length = np.array(list(map(math.hypot, d[:, 0].tolist(), d[:, 1].tolist())),
                      dtype=np.float64)
    slow = ~curve & (length <= 1e-6)
    head = ~slow & ~(length < 1e-6)
    u = d[head] / length[head, None]
    tip_h = tip[head]
    base = tip_h - u * size
    half = size * 0.4
    heads = np.empty((int(head.sum()), 3, 2), dtype=np.float64)
    heads[:, 0] = tip_h
    heads[:, 1, 0] = base[:, 0] - u[:, 1] * half
    heads[:, 1, 1] = base[:, 1] + u[:, 0] * half
    heads[:, 2, 0] = base[:, 0] + u[:, 1] * half
    heads[:, 2, 1] = base[:, 1] - u[:, 0] * half
    short = length[head] * 0.9
    cut = np.where(short < size * 0.8, short, size * 0.8)[:, None]  # min(size * 0.8, short)
    out = xy.copy()
    out[last[head]] = tip_h - u * cut
    pulled = curve[head]  # the last control point moves with the end
    out[last[head][pulled] - 1] = xy[last[head][pulled] - 1] - u[pulled] * cut[pulled]
    has_head = head
    if slow.any():
        has_head = head | slow
        full = np.empty((n, 3, 2), dtype=np.float64)
        full[head] = heads
        for i in np.flatnonzero(slow).tolist():
            p, h = _arrow(list(pts[i]), edges[i].spline, size)
            out[last[i] - len(p) + 1:last[i] + 1] = p
            if h is None:
                has_head[i] = False
            else:
                full[i] = h
        heads = full[has_head]
    return EdgeArrays(out, count, heads, has_head)


def edge_items(edge: EdgePath, theme: Theme) -> list[Item]:
    t = theme["edge"]
    return _edge_items(edge.points, edge.spline, t["stroke"], t["width"], t["arrow_size"])


def _edge_items(points: list[Point], spline: bool, stroke: str, width: float,
                arrow: float) -> list[Item]:
    pts, head = arrow_items(points, spline, stroke, width, arrow)  # it copies what it changes
    items: list[Item] = [_new(Path, (pts, None, _PAINTED.get(stroke) or paint(stroke), width,
                                     spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0,
                                     False, None))]
    if head is not None:
        items.append(head)
    return items


def _interned(index: dict[tuple, int], table: list[tuple], key: tuple) -> int:
    """The position of ``key`` in ``table``, appended there on first sight."""
    i = index.get(key)
    if i is None:
        i = index[key] = len(table)
        table.append(key)
    return i


_BULK_BOXES = 512  # boxes from which their numbers are computed with numpy


def _box_numbers(run: NodeRun, boxes: list, box_group: list[int],
                 groups: list[tuple[str, str]], theme: Theme) -> None:
    """The number and text columns of ``run`` for all boxes at once, as graph_scene's loop
    computes them box by box (block_height + text_block inlined): the same float operations
    in the same order, each one numpy operation over every box or line. A box's lines start
    at y + (h - K) / 2, where K (the lines' heights summed by Python's sum, plus the gaps)
    depends only on the box's sequence of line styles, so Python computes it once per
    sequence; each line's baseline is the previous line's top plus (height + gap), plus
    its ascent. ``box_group[i]`` indexes box i's (text colour, muted colour) in ``groups``."""
    import numpy as np

    gap = theme["node"]["line_gap"]
    n = len(boxes)
    lines = list(map(attrgetter("lines"), boxes))
    count = np.fromiter(map(len, lines), dtype=np.int64, count=n)
    flat = list(chain.from_iterable(lines))
    texts = list(map(attrgetter("text"), flat))
    try:
        joined = "".join(texts)  # (a TypeError: some label is not a string)
        plain = joined.isascii() and joined.isprintable()
    except TypeError:
        plain = False
    if not plain:
        texts = [t if type(t) is str and t.isascii() and t.isprintable() else clean_text(t)
                 for t in texts]
    styles = list(map(attrgetter("style"), flat))
    style_id = {st: i for i, st in enumerate(dict.fromkeys(styles))}
    sizes = [font_size(theme, st) for st in style_id]
    metrics = [_line_metrics(size) for size in sizes]  # (ascent, height) per style
    sid = np.fromiter(map(style_id.__getitem__, styles), dtype=np.int64, count=len(styles))
    end = np.cumsum(count)
    start = end - count
    sequences = [tuple(styles[a:b]) for a, b in zip(start.tolist(), end.tolist())]
    k_of = {q: sum([metrics[style_id[st]][1] for st in q]) + gap * max(0, len(q) - 1)
            for q in set(sequences)}
    x, y, w, h = np.fromiter(chain.from_iterable(map(attrgetter("x", "y", "w", "h"), boxes)),
                             dtype=np.float64, count=4 * n).reshape(n, 4).T.copy()
    top = y + (h - np.fromiter(map(k_of.__getitem__, sequences), dtype=np.float64,
                               count=n)) / 2
    box_of_line = np.repeat(np.arange(n), count)
    at = np.arange(len(styles)) - np.repeat(start, count)  # a line's place in its box
    step = np.array([m[1] + gap for m in metrics], dtype=np.float64)[sid]
    line_top = top[box_of_line]
    for k in range(1, int(count.max(initial=0))):
        j = np.flatnonzero(at == k)
        line_top[j] = line_top[j - 1] + step[j - 1]
    run.ty = line_top + np.array([m[0] for m in metrics], dtype=np.float64)[sid]
    run.x, run.y, run.w, run.h, run.cx = x, y, w, h, x + w / 2
    run.text = texts
    run.text_end = end
    # a line's text style: its box's colours and its own style, interned per distinct pair
    pair = np.asarray(box_group, dtype=np.int64)[box_of_line] * len(sizes) + sid
    distinct, inverse = np.unique(pair, return_inverse=True)
    index: dict[tuple, int] = {key: i for i, key in enumerate(run.text_styles)}
    table = []
    for p in distinct.tolist():
        (color, muted), st = groups[p // len(sizes)], p % len(sizes)
        style = list(style_id)[st]
        table.append(_interned(index, run.text_styles,
                               (sizes[st], muted if style == "detail" else color,
                                style == "title", "middle")))
    run.text_style = np.array(table, dtype=np.int64)[inverse.reshape(-1)]


def graph_scene(graph: Graph, layout: Layout, theme: Theme) -> Scene:
    """The node-link drawing: group frames, edges with arrowheads, boxes with labels."""
    font, node_t, group_t, edge_t = theme["font"], theme["node"], theme["group"], theme["edge"]
    scene = Scene(layout.width, layout.height, theme["background"], graph.name)
    frames = sorted(layout.groups, key=lambda g: (len(g.path), g.path))
    for fr in frames:
        scene.add("group", [Rect(fr.x, fr.y, fr.w, fr.h, group_t["fill"], group_t["stroke"],
                                 group_t["stroke_width"], group_t["radius"])],
                  path="/".join(fr.path))
    e_stroke, e_width, e_arrow = edge_t["stroke"], edge_t["width"], edge_t["arrow_size"]
    # The edges as one run of columns (what _edge_items would make, edge by edge)
    e_paint = _PAINTED.get(e_stroke) or paint(e_stroke)
    drawn = [e for e in layout.edges if len(e.points) >= 2]
    points = None  # _points_array(drawn) in a big drawing (titles_boxes reads it too)
    if sum(map(len, map(attrgetter("points"), drawn))) >= _BULK_POINTS:
        points = _points_array(drawn)
        flat = _edge_arrays(drawn, e_arrow, points)
        erun = EdgeRun(e_paint, e_width, e_paint, flat)
        erun.spline = [e.spline and c >= 4 and (c - 1) % 3 == 0
                       for e, c in zip(drawn, flat.count.tolist())]
    else:
        erun = EdgeRun(e_paint, e_width, e_paint)
        for e in drawn:
            pts, head = _arrow(e.points, e.spline, e_arrow)  # it copies what it changes
            erun.points.append(pts)
            erun.heads.append(head)
            erun.spline.append(e.spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0)
    erun.src = list(map(attrgetter("src"), drawn))
    erun.dst = list(map(attrgetter("dst"), drawn))
    scene.add_run(erun)
    # Frame labels go over the edges, on a patch of the frame's fill: an edge that crosses a
    # label then passes under it instead of striking the text through.
    # Each title starts at the first place along the frame's top where no edge crosses its
    # band (an edge entering the frame at its left would otherwise run through the words).
    # (title_boxes: the HTML viewer packs the very same spots)
    size = group_t["label_size"]
    lh = line_height(size)
    spots = title_boxes(frames, drawn if points else layout.edges, size, points)
    for fr, (x, y, w, h) in zip(frames, spots):
        if not fr.label:
            continue
        title = fr.lines or [fr.label]  # two lines where the layout broke a wide title
        texts = [Text(x + 2, fr.y + ascent(size) + 4 + i * lh, t, size, group_t["label_color"],
                      anchor="start") for i, t in enumerate(title)]
        scene.add("group-label", [Rect(x, y, w, h, group_t["fill"], None), *texts],
                  path="/".join(fr.path))
    labelled = [e for e in layout.edges if e.label and len(e.points) >= 2]
    for e in labelled:
        (x0, y0), (x1, y1) = e.points[0], e.points[1]
        scene.add("edge-label", [Text((x0 + x1) / 2 + 4, (y0 + y1) / 2, e.label,
                                      edge_t["label_size"], edge_t["label_color"],
                                      anchor="start")])
    gap = node_t["line_gap"]
    # style -> (size, ascent, height, bold, detail): looked up once per drawing, not per line
    metrics: dict[str, tuple[float, float, float, bool, bool]] = {}
    paints: dict[str, tuple] = {}  # kind -> its theme colours (a drawing has a dozen kinds)
    nodes_get = graph.nodes.get
    sw, radius = node_t["stroke_width"], node_t["radius"]
    # The boxes as one run of columns; rectangle and text paints are interned per style
    run = NodeRun()
    ids, kinds, xs, ys, ws, hs, rect_style, cxs = (run.ids, run.kinds, run.x, run.y, run.w,
                                                   run.h, run.rect_style, run.cx)
    text_end, tys, texts, text_style = run.text_end, run.ty, run.text, run.text_style
    rect_index: dict[tuple, int] = {}
    text_index: dict[tuple, int] = {}

    def rect_id(key: tuple) -> int:
        return _interned(rect_index, run.rect_styles, key)

    def text_id(key: tuple) -> int:
        return _interned(text_index, run.text_styles, key)

    groups: dict[tuple[str, str], int] = {}  # (text colour, muted colour) -> its index

    def kind_paint(kind: str) -> tuple:
        """(fill, stroke, colour, muted, rect style, text styles by line style, group)."""
        kp = paints.get(kind)
        if kp is None:
            style = theme.kind_style(kind)
            color = style.get("text", font["color"])
            fill, stroke = style["fill"], style.get("stroke", node_t["stroke"])
            muted = style.get("muted", font.get("muted", color))
            kp = paints[kind] = (fill, stroke, color, muted,
                                 rect_id((paint(fill), paint(stroke), sw * 1, radius, None)),
                                 {}, groups.setdefault((color, muted), len(groups)))
        return kp

    def box_style(box: NodeBox, node: Node | None) -> tuple:
        """(kind, rect style, text styles by line style, colour, muted, group) of a box."""
        stub = box.shape == "stub"
        # a reference stub ("<src>::stub::<dst>") wears the colour of its source's kind
        src = nodes_get(box.id.split("::stub::")[0]) if stub else node
        kind = src.kind if src is not None else "group"
        # tstyles: line style -> text style index, for this kind's colours
        fill, stroke, color, muted, rs, tstyles, group = kind_paint(kind)
        meta = node.meta if node is not None else None
        diff = meta.get("diff") if meta else None
        ov = meta.get("overlay") if meta and not stub else None
        if diff or ov or stub:
            if diff:  # `nnviz diff -o`: outline added (green) / changed (orange), thicker
                stroke = {"added": "#16a34a", "changed": "#ea580c"}.get(diff, stroke)
            width = sw * (2.5 if diff else 1)
            if ov:  # `--overlay`: tinted by the value, outlined when flagged (nnviz.values)
                fill = ov["fill"]
                color = muted = ov["color"]
                if ov.get("flags"):
                    stroke, width = OVERLAY_FLAG_STROKE, max(width, 3.0)
            if stub:
                shape = Rect(box.x, box.y, box.w, box.h, fill, stroke, sw, box.h / 2,
                             dash=(3, 2))
            else:
                shape = Rect(box.x, box.y, box.w, box.h, fill, stroke, width, radius)
            rs = rect_id(tuple(shape[4:]))
            if ov:
                tstyles = {}  # the value's colours, not the kind's
                group = groups.setdefault((color, muted), len(groups))
        return kind, rs, tstyles, color, muted, group

    boxes = list(layout.nodes.values())
    if len(boxes) >= _BULK_BOXES:
        # a box of its node's kind's paint (most of them) needs only its kind; box_style
        # for the others: stubs, and nodes whose meta may say diff or overlay
        run.ids = list(map(attrgetter("id"), boxes))
        nodes = list(map(nodes_get, run.ids))
        run.kinds = [n.kind if n is not None else "group" for n in nodes]
        kps = {k: kind_paint(k) for k in dict.fromkeys(run.kinds)}
        run.rect_style = [kps[k][4] for k in run.kinds]
        box_group = [kps[k][6] for k in run.kinds]
        for i, (box, node) in enumerate(zip(boxes, nodes)):
            if box.shape == "stub" or (node is not None and node.meta
                                       and ("diff" in node.meta or "overlay" in node.meta)):
                run.kinds[i], run.rect_style[i], _, _, _, box_group[i] = box_style(box, node)
        _box_numbers(run, boxes, box_group, list(groups), theme)
        scene.add_run(run)
        return scene
    for box in boxes:
        node = nodes_get(box.id)
        kind, rs, tstyles, color, muted, _ = box_style(box, node)
        ids.append(box.id)
        kinds.append(kind)
        rect_style.append(rs)
        xs.append(box.x)
        ys.append(box.y)
        ws.append(box.w)
        hs.append(box.h)
        # block_height + text_block inlined (the same arithmetic, so the same coordinates)
        lines = box.lines
        rows = []
        for ln in lines:
            m = metrics.get(ln.style)
            if m is None:
                size = font_size(theme, ln.style)
                m = metrics[ln.style] = (size, *_line_metrics(size), ln.style == "title",
                                         ln.style == "detail")
            rows.append(m)
        y = box.y + (box.h - (sum([m[2] for m in rows]) + gap * max(0, len(lines) - 1))) / 2
        cxs.append(box.x + box.w / 2)
        for ln, (size, asc, height, bold, detail) in zip(lines, rows):
            t = ln.text
            if type(t) is not str or not (t.isascii() and t.isprintable()):
                t = clean_text(t)
            tys.append(y + asc)
            texts.append(t)
            k = tstyles.get(ln.style)
            if k is None:
                k = tstyles[ln.style] = text_id((size, muted if detail else color, bold,
                                                 "middle"))
            text_style.append(k)
            y += height + gap
        text_end.append(len(texts))
    scene.add_run(run)
    return scene


OVERLAY_FLAG_STROKE = "#d1005f"


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.2e}"
    return f"{v:.3g}"


def add_overlay_legend(scene: Scene, ov: dict, theme: Theme) -> None:
    """The colour scale of an ``--overlay`` drawing, with what was captured and what is
    flagged, in a strip under the drawing (the canvas grows to hold it)."""
    size = float(theme["font"]["size"])
    color = theme["font"]["color"]
    muted = theme["font"].get("muted", color)
    lh = line_height(size)
    margin, bar_w, bar_h = 12.0, 240.0, 12.0
    flagged = ov.get("flagged") or []
    notes = [ov.get("note") or ""]
    if flagged:
        shown = ", ".join(f"{f['label']} ({', '.join(f['flags'])})" for f in flagged[:4])
        more = f", +{len(flagged) - 4} more" if len(flagged) > 4 else ""
        notes.append(f"flagged: {shown}{more}")
    notes = [n for n in notes if n]
    top = scene.height + 4
    stops = ov["stops"]
    items: list[Item] = [Text(margin, top + ascent(size), ov["title"] +
                              (" (log scale)" if ov.get("log") else ""), size, color,
                              bold=True, anchor="start")]
    y = top + lh + 4
    n = 48
    for i in range(n):
        t = i / (n - 1)
        pos = t * (len(stops) - 1)
        k = min(int(pos), len(stops) - 2)
        f = pos - k
        a, b = to_rgb(stops[k]) or (0, 0, 0), to_rgb(stops[k + 1]) or (0, 0, 0)
        c = "#" + "".join(f"{round(x + (z - x) * f):02x}" for x, z in zip(a, b))
        items.append(Rect(margin + bar_w * i / n, y, bar_w / n + 0.3, bar_h, c, None, 0))
    items.append(Rect(margin, y, bar_w, bar_h, None, muted, 0.5))
    ty = y + bar_h + ascent(size) + 2
    items.append(Text(margin, ty, _fmt_tick(ov["lo"]), size, muted, anchor="start"))
    items.append(Text(margin + bar_w, ty, _fmt_tick(ov["hi"]), size, muted, anchor="end"))
    sx = margin + bar_w + 16
    items.append(Rect(sx, y, bar_h, bar_h, ov.get("no_value", "#e5e7eb"), muted, 0.5))
    items.append(Text(sx + bar_h + 4, y + bar_h - 2, "no value", size, muted, anchor="start"))
    fx = sx + bar_h + 4 + text_width("no value", size) + 16
    items.append(Rect(fx, y, bar_h * 1.6, bar_h, None, OVERLAY_FLAG_STROKE, 3.0))
    items.append(Text(fx + bar_h * 1.6 + 6, y + bar_h - 2, "flagged", size, muted,
                      anchor="start"))
    y = ty + 6
    width = fx + bar_h * 1.6 + 6 + text_width("flagged", size) + margin
    for note in notes:
        y += lh
        items.append(Text(margin, y, note, size, muted, anchor="start"))
        width = max(width, margin * 2 + text_width(note, size))
    scene.add("legend", items)
    scene.height = float(math.ceil(y + margin))
    scene.width = float(math.ceil(max(scene.width, width)))
