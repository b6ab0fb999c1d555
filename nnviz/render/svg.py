"""SVG: the reference renderer. Text uses the shipped DejaVu Sans, matching layout metrics.

The drawing itself is a :class:`nnviz.render.scene.Scene` (shared with PDF and TikZ); this
module only serialises it. Node, edge and group elements keep ``class``/``data-*`` attributes
so tools and the HTML viewer can find them.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from nnviz.escape import xml_escape as escape
from nnviz.escape import xml_quoteattr as quoteattr
from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.render.build import build_scene
from nnviz.render.scene import (
    Circle,
    EdgeArrays,
    EdgeRun,
    Item,
    NodeRun,
    Path,
    Rect,
    Scene,
    Text,
    clean_text,
)
from nnviz.text import FONT_FAMILY
from nnviz.theme import Theme
from nnviz.util import paused_gc

# Number -> text memo: a big drawing repeats the same coordinates (columns, rows, sizes) tens
# of thousands of times, and formatting a float costs several times a dict lookup. Cleared
# after each drawing and when large, so memory stays bounded.
_NUMBERS: dict[float, str] = {}
_NUMBERS_MAX = 1 << 19


def _f(v: float) -> str:
    """Compact, deterministic number formatting."""
    s = _NUMBERS.get(v)
    if s is None:
        s = f"{v:.2f}"
        if s[-1] == "0":  # "12.50" -> "12.5", "12.00" -> "12" (rstrip("0").rstrip("."))
            s = s[:-3] if s[-2] == "0" else s[:-1]
            if s == "-0":
                s = "0"
        if len(_NUMBERS) >= _NUMBERS_MAX:
            _NUMBERS.clear()
        _NUMBERS[v] = s
    return s


def _points_d(pts: list[tuple[float, float]], spline: bool, closed: bool = False) -> str:
    f = _f
    if spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
        d = [f"M{f(pts[0][0])},{f(pts[0][1])}"]
        for i in range(1, len(pts), 3):
            (a, b), (c, e), (g, h) = pts[i], pts[i + 1], pts[i + 2]
            d.append(f"C{f(a)},{f(b)} {f(c)},{f(e)} {f(g)},{f(h)}")
        out = " ".join(d)
    else:
        # The memo lookup inlined (no text is ever empty, so `or` only falls through on a
        # miss): polylines are most of the numbers in a big drawing.
        get = _NUMBERS.get
        out = "M" + " L".join([f"{get(x) or f(x)},{get(y) or f(y)}" for x, y in pts])
    return out + (" Z" if closed else "")


def _escape(s: str) -> str:
    """xml.sax.saxutils.escape, skipping the three replaces for the usual plain string."""
    if "&" in s or "<" in s or ">" in s:
        return escape(s)
    return s


def _text(s: str) -> str:
    return _escape(clean_text(s))


def _attr(s: str) -> str:
    s = clean_text(s)  # no newlines or tabs left, so quoteattr's entity table is moot...
    if "&" in s or "<" in s or ">" in s or '"' in s or "'" in s:
        return quoteattr(s)
    return f'"{s}"'  # ...and a string without markup or quotes is quoted as is


# Paint attributes per (fill, stroke, width, dash): a drawing uses a handful of styles.
_PAINTS: dict[tuple, str] = {}


def _paint(fill: str | None, stroke: str | None, width: float,
           dash: tuple[float, float] | None = None) -> str:
    key = (fill, stroke, width, dash)
    out = _PAINTS.get(key)
    if out is None:
        out = f' fill="{escape(fill or "none")}"'
        if stroke:
            out += f' stroke="{escape(stroke)}" stroke-width="{_f(width)}"'
        if dash:
            out += f' stroke-dasharray="{_f(dash[0])},{_f(dash[1])}"'
        if len(_PAINTS) >= 4096:
            _PAINTS.clear()
        _PAINTS[key] = out
    return out


def _item(it: Item) -> str:
    f = _f
    get = _NUMBERS.get  # inlined memo lookups, as in _points_d
    if isinstance(it, Text):  # the most common item
        t = it.text
        # Scene text is already clean; escape only what needs it (same result as _text).
        if not (t.isascii() and t.isprintable()) or "&" in t or "<" in t or ">" in t:
            t = _text(t)
        x, y, size = it.x, it.y, it.size
        anchor = "" if it.anchor == "start" else f' text-anchor="{it.anchor}"'
        weight = ' font-weight="bold"' if it.bold else ""
        return (f'<text x="{get(x) or f(x)}" y="{get(y) or f(y)}"{anchor} '
                f'font-size="{get(size) or f(size)}"'
                f'{weight} fill="{_escape(it.color)}">{t}</text>')
    if isinstance(it, Path):
        cap = ' stroke-linejoin="round"' if it.stroke else ""
        return (f'<path d="{_points_d(it.points, it.spline, it.closed)}"'
                f'{_paint(it.fill, it.stroke, it.width, it.dash)}{cap}/>')
    if isinstance(it, Rect):
        rx = f' rx="{f(it.radius)}"' if it.radius else ""
        x, y, w, h = it.x, it.y, it.w, it.h
        return (f'<rect x="{get(x) or f(x)}" y="{get(y) or f(y)}" width="{get(w) or f(w)}" '
                f'height="{get(h) or f(h)}"'
                f'{rx}{_paint(it.fill, it.stroke, it.width, it.dash)}/>')
    if isinstance(it, Circle):
        return (f'<circle cx="{f(it.cx)}" cy="{f(it.cy)}" r="{f(it.r)}"'
                f'{_paint(it.fill, it.stroke, it.width)}/>')
    raise TypeError(f"unknown scene item {type(it).__name__}")


def _data_attr(key: str, value: str) -> str:
    """' data-key="value"', quoted as _attr quotes it."""
    return f" data-{key}={_quoted(value)}"


def _quoted(value: str) -> str:
    """An attribute value with its quotes, as _attr quotes it."""
    if type(value) is str and value.isascii() and value.isprintable() and "&" not in value \
            and "<" not in value and ">" not in value and '"' not in value and "'" not in value:
        return f'"{value}"'  # what _attr gives a plain string
    return _attr(value)


def _text_tail(size: float, color: str, bold: bool, anchor: str) -> str:
    """A text element's attributes after y, up to its text."""
    return (("" if anchor == "start" else f' text-anchor="{anchor}"')
            + f' font-size="{_f(size)}"' + (' font-weight="bold"' if bold else "")
            + f' fill="{_escape(color)}">')


def _xml_text(t: str) -> str:
    """Scene text (already clean) as XML text: escaped only where it needs it (as _text)."""
    if t.isascii() and t.isprintable() and "&" not in t and "<" not in t and ">" not in t:
        return t
    return _text(t)


_BULK_MIN = 4096  # numbers below which a run is written item by item (no numpy import)


def _number_cols(values: Any) -> Any:
    """_f of each value as a NUL-padded byte matrix (one row per value), built in bulk.

    A 50k-node drawing has ~1.1M coordinates: a Python string per number (a call, a float
    formatting, an object) was most of the writer's time, so the numbers never become
    strings here. numpy reads the hundredths (round(v * 100)) and writes the integer part's
    digits one column at a time from the right, each column contiguous (the matrix is
    returned transposed), the sign where the digits end, then the hundredths from a table
    (".5", ".05", nothing for 0) as _f strips them; unused positions are NUL, which the
    caller removes from its byte stream. A value within 0.01 hundredths of a tie (where
    v * 100 may round otherwise than '{:.2f}'), and any huge or non-finite value, is
    written by _f itself.
    """
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    hundredths = v * 100
    with np.errstate(invalid="ignore"):
        k = np.rint(hundredths)
        ok = np.isfinite(v) & (np.abs(v) < 1e12) & (np.abs(hundredths - k) < 0.49)
    k = np.where(ok, k, 0.0)
    neg = k < 0
    any_neg = bool(neg.any())
    k = np.abs(k)
    # unsigned 32-bit where they fit (a drawing's hundredths do): numpy divides them
    # several times faster than int64, and a remainder as q * 10 subtracted, faster than %
    k = k.astype(np.uint32 if n == 0 or k.max() < 1 << 32 else np.uint64)
    ip = k // 100
    width = len(str(int(ip.max(initial=0)))) + 1  # the integer part's digits and the sign
    cols = np.empty((width + 3, n), dtype=np.uint8)
    rest = prev = ip
    for j in range(width - 1, -1, -1):  # row j: digit width - 1 - j from the right
        q = rest // 10
        if j == width - 1:  # the units digit, always written
            cols[j] = rest - q * 10 + 48
        else:  # a digit while something is left, else NUL, or the sign right after
            cols[j] = np.where(rest > 0, rest - q * 10 + 48, 0)
            if any_neg:
                sign = neg & (rest == 0)
                cols[j][sign & (prev > 0) if j < width - 2 else sign] = ord("-")
        prev, rest = rest, q
    cols[width:] = _hundredths_table()[:, k - ip * 100]
    cols = cols.T
    bad = np.flatnonzero(~ok)
    if len(bad):  # NUL-padded by numpy's bytes dtype
        texts = np.array([_f(x).encode("ascii") for x in v[bad].tolist()], dtype=np.bytes_)
        wide = texts.dtype.itemsize
        if wide > cols.shape[1]:
            cols = np.pad(cols, ((0, 0), (0, wide - cols.shape[1])))
        cols[bad] = 0
        cols[bad, :wide] = texts.view(np.uint8).reshape(len(bad), wide)
    return cols


_HUNDREDTHS: list = []


def _hundredths_table() -> Any:
    """Column f: what _f writes after the integer part for f hundredths (".05", ".5", "")."""
    if not _HUNDREDTHS:
        import numpy as np

        table = np.zeros((3, 100), dtype=np.uint8)
        for f in range(1, 100):
            t = f".{f:02d}".rstrip("0").encode("ascii")
            table[:len(t), f] = np.frombuffer(t, dtype=np.uint8)
        _HUNDREDTHS.append(table)
    return _HUNDREDTHS[0]


def _records(parts: list) -> list[str]:
    """Rows of text from columns: each part is constant bytes (the same in every row) or a
    (rows, width) uint8 matrix of NUL-padded text (_number_cols, or one byte per row). Every
    byte 1 starts a record: the rows' bytes without NULs, split there. One byte stream and
    one split instead of a string per number and per row."""
    import numpy as np

    rows = next(p.shape[0] for p in parts if not isinstance(p, bytes))
    widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in parts]
    m = np.empty((rows, sum(widths)), dtype=np.uint8)
    col = 0
    for p, w in zip(parts, widths):
        m[:, col:col + w] = np.frombuffer(p, dtype=np.uint8) if isinstance(p, bytes) else p
        col += w
    return m.tobytes().replace(b"\0", b"").decode("ascii").split("\x01")[1:]


def _plain(values: list[str], attr: bool) -> bool:
    """Whether every string is printable ASCII without markup (and, for an attribute, without
    quotes): then _xml_text leaves each as it is and _quoted only wraps it in double quotes.
    One check over the joined strings instead of one per string."""
    s = "".join(values)
    return s.isascii() and s.isprintable() and "&" not in s and "<" not in s and ">" not in s \
        and not (attr and ('"' in s or "'" in s))


def _quoted_all(values: list[str]) -> tuple[list[str], str]:
    """([_quoted(v) for v in values], ""), or (values, '"') when every value is plain: the
    caller writes the quote around each value itself (in its constant pieces)."""
    if _plain(values, True):
        return values, '"'
    memo = {v: _quoted(v) for v in set(values)}
    return list(map(memo.__getitem__, values)), ""


def _xml_texts(values: list[str]) -> list[str]:
    """[_xml_text(v) for v in values]."""
    if _plain(values, False):
        return values
    memo = {v: _xml_text(v) for v in set(values)}  # labels repeat: op names, shapes
    return list(map(memo.__getitem__, values))


def _write_nodes(run: NodeRun, out: list[str]) -> None:
    """A run of node layers, all boxes in one string: what _write_layers writes for the
    layers the run expands to. Every number comes from one _number_cols byte stream (per
    box its rectangle's "x" y="y" width="w" height="h", per line its x and y); the rest is
    pieces per box and per line, each laid at its place in one array and joined once."""
    import numpy as np

    n, lines = len(run.ids), len(run.text)
    one = np.ones((n, 1), dtype=np.uint8)
    geom = _records([one, _number_cols(run.x), b'" y="', _number_cols(run.y),
                     b'" width="', _number_cols(run.w), b'" height="', _number_cols(run.h)])
    end = np.asarray(run.text_end, dtype=np.int64)
    count = np.diff(end, prepend=0)
    box_of_line = np.repeat(np.arange(n), count)
    cx = np.asarray(run.cx, dtype=np.float64)[box_of_line]
    line_geom = _records([np.ones((lines, 1), dtype=np.uint8), _number_cols(cx), b'" y="',
                          _number_cols(run.ty)])
    rect_tails = np.array(['"' + (f' rx="{_f(radius)}"' if radius else "")
                           + _paint(fill, stroke, width, dash) + "/>"
                           for fill, stroke, width, radius, dash in run.rect_styles],
                          dtype=object)
    text_tails = np.array(['"' + _text_tail(*key) for key in run.text_styles], dtype=object)
    ids, q = _quoted_all(run.ids)
    kind_attr = {k: q + _data_attr("kind", k) + '>\n<rect x="' for k in set(run.kinds)}
    # Piece positions: box i's five pieces, then five per line of it, then its closing
    # tag; box i starts at 6 i + 5 (lines before it), line j at 6 (its box) + 5 j + 5.
    start = 6 * np.arange(n) + 5 * (end - count)
    at = 6 * box_of_line + 5 * np.arange(lines) + 5
    pieces = np.empty(6 * n + 5 * lines, dtype=object)
    pieces[start] = '<g class="node" data-id=' + q
    pieces[start + 1] = ids
    pieces[start + 2] = list(map(kind_attr.__getitem__, run.kinds))
    pieces[start + 3] = geom
    pieces[start + 4] = rect_tails[np.asarray(run.rect_style, dtype=np.int64)]
    pieces[at] = '\n<text x="'
    pieces[at + 1] = line_geom
    pieces[at + 2] = text_tails[np.asarray(run.text_style, dtype=np.int64)]
    pieces[at + 3] = _xml_texts(run.text)
    pieces[at + 4] = "</text>"
    pieces[start + 5 + 5 * count] = "\n</g>\n"
    pieces[-1] = "\n</g>"
    out.append("".join(pieces.tolist()))


def _edge_arrays(run: EdgeRun) -> EdgeArrays:
    """The geometry of a run built edge by edge (lists), as arrays."""
    import numpy as np

    n = len(run.points)
    count = np.fromiter(map(len, run.points), dtype=np.int64, count=n)
    heads = [h for h in run.heads if h is not None]
    return EdgeArrays(
        np.fromiter(chain.from_iterable(chain.from_iterable(run.points)), dtype=np.float64,
                    count=2 * int(count.sum())).reshape(-1, 2),
        count,
        np.fromiter(chain.from_iterable(chain.from_iterable(heads)), dtype=np.float64,
                    count=6 * len(heads)).reshape(-1, 3, 2),
        np.fromiter((h is not None for h in run.heads), dtype=bool, count=n))


def _write_edges(run: EdgeRun, out: list[str]) -> None:
    """A run of edge layers, all edges in one string: what _write_layers writes for the
    layers the run expands to. The path data of every line and arrowhead comes from one
    _number_cols byte stream, one row per point (its prefix "M", " L", " C" or " ", then
    "x,y"), a line's rows followed by its head's three (or one empty row for no head);
    the rest is nine pieces per edge joined once."""
    import numpy as np

    n = len(run.src)
    flat = run.flat or _edge_arrays(run)
    count, has_head, heads = flat.count, flat.has_head, flat.heads
    # a spline only when its points are p0 (c1 c2 p)+, as _write_layers decides
    spline = np.fromiter(run.spline, dtype=bool, count=n) & (count >= 4) & (count % 3 == 1)
    head_rows = np.where(has_head, 3, 1)
    per_edge = count + head_rows
    base = np.cumsum(per_edge) - per_edge  # each edge's first row
    rows = int(per_edge.sum())
    total = int(count.sum())
    # where each line point and each head point goes
    line_at = np.repeat(base - (np.cumsum(count) - count), count) + np.arange(total)
    k = line_at - np.repeat(base, count)  # index of the point in its line
    head_base = (base + count)[has_head]
    head_at = (head_base[:, None] + np.arange(3)).reshape(-1)
    xy = np.zeros((rows, 2), dtype=np.float64)
    xy[line_at] = flat.xy
    xy[head_at] = heads.reshape(-1, 2)
    # prefix codes: 0 "M", 1 " L", 2 " C", 3 " ", 4 nothing (an empty head row)
    code = np.full(rows, 4, dtype=np.int64)
    spline_at = np.repeat(spline, count)
    code[line_at] = np.where(k == 0, 0, np.where(~spline_at, 1, np.where(k % 3 == 1, 2, 3)))
    code[head_at] = np.tile([0, 1, 1], len(heads))
    prefix = np.frombuffer(b"\1M\0\0\0 L\0\0 C\0\0 \0\0\0\0\0\0",
                           dtype=np.uint8).reshape(5, 4)[code]
    prefix[base, 0] = prefix[head_base, 0] = 1  # a new record: the line, its head
    prefix[(base + count)[~has_head], 0] = 1  # (an empty head record)
    empty = code == 4
    xs, ys = _number_cols(xy[:, 0]), _number_cols(xy[:, 1])
    xs[empty] = 0
    ys[empty] = 0
    comma = np.where(empty, 0, ord(",")).astype(np.uint8)[:, None]
    d = _records([prefix[:, :1], prefix[:, 1:3], xs, comma, ys])
    line_tail = (f'"{_paint(None, run.stroke, run.width)}'
                 + (' stroke-linejoin="round"' if run.stroke else "") + "/>")
    head_tail = f' Z"{_paint(run.head_fill, None, 1.0)}/>'
    heads_on = has_head.tolist()
    pieces: list[str] = [""] * (9 * n)
    pieces[1::9], qs = _quoted_all(run.src)
    pieces[3::9], qd = _quoted_all(run.dst)
    pieces[0::9] = ['<g class="edge" data-src=' + qs] * n
    pieces[2::9] = [qs + " data-dst=" + qd] * n
    pieces[4::9] = [qd + '>\n<path d="'] * n
    pieces[5::9] = d[0::2]
    pieces[6::9] = [line_tail + '\n<path d="' if h else line_tail for h in heads_on]
    pieces[7::9] = d[1::2]
    pieces[8::9] = [head_tail + "\n</g>\n" if h else "\n</g>\n" for h in heads_on]
    if n:
        pieces[-1] = pieces[-1][:-1]
    out.append("".join(pieces))


def _write_layers(layers: list[tuple[str, dict[str, str], list[Item]]], out: list[str]) -> None:
    """Every layer and item as SVG lines, appended to ``out``: one loop, the per-item work of
    :func:`_item` inlined. A 50k-node drawing has ~300k items; a function call, an isinstance
    chain and a paint-string build per item were most of the writer's time, so each item
    type is one f-string with its invariant parts (paint, font, anchor) formatted once per
    style, and the number memo is read directly."""
    f = _f
    get = _NUMBERS.get
    append = out.append
    text_tails: dict[tuple, str] = {}  # (size, color, bold, anchor) -> attributes after y
    escaped: dict[str, str] = {}  # scene text -> its XML text
    rect_tails: dict[tuple, str] = {}  # (radius, fill, stroke, width, dash) -> after height
    path_tails: dict[tuple, str] = {}  # (fill, stroke, width, dash) -> after d
    layer_heads: dict[str, str] = {}  # css class -> '<g class="...'
    for cls, data, items in layers:
        head = layer_heads.get(cls)
        if head is None:
            head = layer_heads[cls] = f'<g class="{_escape(cls)}"'
        if data:
            append(head + "".join([_data_attr(k, v) for k, v in data.items()]) + ">")
        else:
            append(head + ">")
        for it in items:
            kind = type(it)
            if kind is Text:
                x, y, t = it[:3]
                # Scene text is already clean; escape only what needs it (as _text does),
                # once per distinct string (labels repeat: op names, shapes).
                e = escaped.get(t)
                if e is None:
                    e = escaped[t] = _xml_text(t)
                key = it[3:]  # (size, color, bold, anchor)
                tail = text_tails.get(key)
                if tail is None:
                    tail = text_tails[key] = _text_tail(*key)
                append(f'<text x="{get(x) or f(x)}" y="{get(y) or f(y)}"{tail}{e}</text>')
            elif kind is Path:
                pts, fill, stroke, width, spline, closed, dash = it
                key = (fill, stroke, width, dash)
                tail = path_tails.get(key)
                if tail is None:
                    tail = path_tails[key] = (
                        f'"{_paint(fill, stroke, width, dash)}'
                        + (' stroke-linejoin="round"' if stroke else "") + "/>")
                if spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
                    d = _points_d(pts, True, closed)
                else:
                    d = "M" + " L".join([f"{get(px) or f(px)},{get(py) or f(py)}"
                                         for px, py in pts])
                    if closed:
                        d += " Z"
                append(f'<path d="{d}{tail}')
            elif kind is Rect:
                x, y, w, h, fill, stroke, width, radius, dash = it
                key = (radius, fill, stroke, width, dash)
                tail = rect_tails.get(key)
                if tail is None:
                    tail = rect_tails[key] = (
                        (f' rx="{f(radius)}"' if radius else "")
                        + _paint(fill, stroke, width, dash) + "/>")
                append(f'<rect x="{get(x) or f(x)}" y="{get(y) or f(y)}" '
                       f'width="{get(w) or f(w)}" height="{get(h) or f(h)}"{tail}')
            else:
                append(_item(it))
        append("</g>")


EMBEDDED_FAMILY = "nnviz DejaVu Sans"


def font_face_css(scene: Scene) -> str:
    """@font-face rules with the shipped DejaVu Sans, subset to the glyphs the scene uses.

    Browsers then draw the text with the very font whose metrics sized the boxes, even on a
    machine without it. Subsetting keeps this to a few kB; fixed options keep it deterministic.
    """
    import base64

    from nnviz.text import subset_font

    rules = []
    for bold in (False, True):
        chars = sorted({ch for it in scene.items() if isinstance(it, Text) and it.bold == bold
                        for ch in clean_text(it.text)})
        if not chars:
            continue
        font = subset_font("bold" if bold else "regular", text="".join(chars),
                           features=("kern", "liga"), notdef_outline=True)
        data = base64.b64encode(font).decode("ascii")
        rules.append(f'@font-face{{font-family:"{EMBEDDED_FAMILY}";'
                     f'font-weight:{"bold" if bold else "normal"};'
                     f'src:url(data:font/ttf;base64,{data}) format("truetype")}}')
    return "".join(rules)


def scene_to_svg(scene: Scene, embed_font: bool = False, width_in: float | None = None) -> str:
    """The SVG text; ``width_in`` sets width/height in inches (the viewBox stays in px)."""
    w, h = _f(scene.width), _f(scene.height)
    size_w, size_h = w, h
    if width_in:  # a physical size: LaTeX, Word and browsers then print it at that width
        size_w = f"{width_in:.4f}".rstrip("0").rstrip(".") + "in"
        size_h = f"{width_in * scene.height / max(scene.width, 1.0):.4f}".rstrip("0") \
            .rstrip(".") + "in"
    family = FONT_FAMILY + ", sans-serif"
    if embed_font:
        family = f"'{EMBEDDED_FAMILY}', {family}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_w}" height="{size_h}" '
        f'viewBox="0 0 {w} {h}" font-family={quoteattr(family)}>',
        f"<title>{_text(scene.title)}</title>",
    ]
    if scene.background:
        out.append(f'<rect width="100%" height="100%" fill="{escape(scene.background)}"/>')
    if embed_font:
        css = font_face_css(scene)
        if css:
            out.insert(2, f"<style>{css}</style>")
    layers: list = []  # consecutive plain layers, written together
    for run in scene.runs:
        if type(run) is tuple:
            layers.append(run)
            continue
        _write_layers(layers, out)
        layers = []
        if run.numbers() < _BULK_MIN:  # a small drawing: not worth importing numpy for
            _write_layers(run.expand(), out)
        elif type(run) is NodeRun:
            _write_nodes(run, out)
        else:
            _write_edges(run, out)  # type: ignore[arg-type]
    _write_layers(layers, out)
    out.append("</svg>\n")
    # The memo is for one drawing: a long-lived process (viewer, notebook) should not keep
    # a big drawing's 300k number strings alive.
    _NUMBERS.clear()
    return "\n".join(out)


def render(graph: Graph, layout: Layout, theme: Theme, embed_font: bool = False,
           width: str | float | None = None, **options) -> str:
    """The SVG; ``embed_font`` adds the (subset) font so browsers need not have it;
    ``width`` ("3.3in", "8cm") gives it a physical size."""
    from nnviz.render.physical import parse_length

    width_in = parse_length(width) if width is not None else None
    with paused_gc():  # ~1M short-lived scene objects and strings: see paused_gc
        return scene_to_svg(build_scene(graph, layout, theme), embed_font=embed_font,
                            width_in=width_in)
