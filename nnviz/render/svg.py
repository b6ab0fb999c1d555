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
from nnviz.render.scene import Circle, EdgeRun, Item, NodeRun, Path, Rect, Scene, Text, clean_text
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


_BULK_MIN = 4096  # numbers below which the per-value formatter is the cheaper path


def format_numbers(values: list[float]) -> list[str]:
    """[_f(v) for v in values], in bulk. A 50k-node drawing has ~1.1M coordinates, a third
    of them distinct, so the memo alone missed ~400k times (a Python call and a float
    formatting each).

    numpy reads the hundredths (round(v * 100)) and writes their digits as text columns
    (_hundredths_text): what _f prints, trailing zeros stripped. A value whose hundredths
    sit within 0.01 of a tie (where v * 100 may round differently from '{:.2f}'), and any
    huge or non-finite value, goes through _f itself.
    """
    if len(values) < _BULK_MIN:  # a small drawing: not worth importing numpy for
        return [_f(v) for v in values]
    import numpy as np

    # each distinct value once (a third of a big drawing's numbers); 0.0 and -0.0 are one
    # value and both print "0"
    v, inverse = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True)
    hundredths = v * 100
    with np.errstate(invalid="ignore"):
        k = np.rint(hundredths)
        ok = np.isfinite(v) & (np.abs(v) < 1e12) & (np.abs(hundredths - k) < 0.49)
    out = _hundredths_text(np.where(ok, k, 0).astype(np.int64))
    for i in np.flatnonzero(~ok).tolist():
        out[i] = _f(float(v[i]))
    return np.array(out, dtype=object)[inverse.reshape(-1)].tolist()


def _hundredths_text(ki: Any) -> list[str]:
    """Integers of hundredths as _f's text ("-12.5" for -1250, "0.05" for 5, "3" for 300).

    Built as a byte matrix, one column per character position (integer digits right-aligned
    with the sign before them, then dot, decimals and a space), unused positions NUL: its
    bytes without the NULs are the numbers separated by spaces, which one split turns into
    strings (a Python call per number would cost more than all the numpy work)."""
    import numpy as np

    neg = ki < 0
    ip, frac = np.divmod(np.abs(ki), 100)
    decimals = np.where(frac == 0, 0, np.where(frac % 10 == 0, 1, 2))
    digits = np.ones(len(ki), dtype=np.int64)  # of the integer part
    top, p = int(ip.max()), 10
    while p <= top:
        digits += ip >= p
        p *= 10
    width = int(digits.max()) + 1  # the sign's column too
    cols = np.zeros((width + 4, len(ki)), dtype=np.uint8)
    # 32-bit digits where they fit (a drawing's hundredths do): numpy divides them faster
    rest = ip.astype(np.uint32) if top < 1 << 32 else ip.copy()
    for j in range(width):  # column width - 1 - j: the j-th digit from the right, or the sign
        cols[width - 1 - j] = np.where(digits > j, 48 + rest % 10,
                                       np.where((digits == j) & neg, ord("-"), 0))
        rest //= 10
    cols[width] = np.where(decimals > 0, ord("."), 0)
    cols[width + 1] = np.where(decimals > 0, 48 + frac // 10, 0)
    cols[width + 2] = np.where(decimals == 2, 48 + frac % 10, 0)
    cols[width + 3] = ord(" ")
    text = cols.T.tobytes().replace(b"\0", b"").decode("ascii")
    return text.split(" ")[:-1]


def _write_nodes(run: NodeRun, out: list[str]) -> None:
    """A run of node layers, one string per box (its group, rectangle and text lines), from
    the columns, numbers formatted in bulk: what _write_layers writes for the layers the run
    expands to."""
    f = _f
    append = out.append
    n = len(run.ids)
    nums = format_numbers(run.x + run.y + run.w + run.h + run.cx + run.ty)
    xs, ys, ws, hs, cxs = (nums[i * n:(i + 1) * n] for i in range(5))
    tys = nums[5 * n:]
    rect_tails = [(f' rx="{f(radius)}"' if radius else "") + _paint(fill, stroke, width, dash)
                  + "/>" for fill, stroke, width, radius, dash in run.rect_styles]
    text_tails = [_text_tail(*key) for key in run.text_styles]
    kind_attrs: dict[str, str] = {}
    escaped: dict[str, str] = {}  # labels repeat (op names, shapes): each escaped once
    text, text_style = run.text, run.text_style
    start = 0
    for bid, kind, x, y, w, h, rs, cx, end in zip(run.ids, run.kinds, xs, ys, ws, hs,
                                                  run.rect_style, cxs, run.text_end):
        ka = kind_attrs.get(kind)
        if ka is None:
            ka = kind_attrs[kind] = _data_attr("kind", kind) + ">"
        parts = [f'<g class="node" data-id={_quoted(bid)}{ka}',
                 f'<rect x="{x}" y="{y}" width="{w}" height="{h}"{rect_tails[rs]}']
        for j in range(start, end):
            t = text[j]
            e = escaped.get(t)
            if e is None:
                e = escaped[t] = _xml_text(t)
            parts.append(f'<text x="{cx}" y="{tys[j]}"{text_tails[text_style[j]]}{e}</text>')
        start = end
        parts.append("</g>")
        append("\n".join(parts))


def _write_edges(run: EdgeRun, out: list[str]) -> None:
    """A run of edge layers, one string per edge (its group, line and arrowhead), from the
    columns, numbers formatted in bulk: what _write_layers writes for the layers the run
    expands to."""
    append = out.append
    line_tail = (f'"{_paint(None, run.stroke, run.width)}'
                 + (' stroke-linejoin="round"' if run.stroke else "") + "/>")
    head_tail = f' Z"{_paint(run.head_fill, None, 1.0)}/>'
    # every point of every line, then every arrowhead's three, as "x,y"
    flat = list(chain.from_iterable(run.points))
    flat.extend(chain.from_iterable(h for h in run.heads if h is not None))
    nums = format_numbers(list(chain.from_iterable(flat)))
    pairs = list(map(",".join, zip(nums[0::2], nums[1::2])))
    quoted: dict[str, str] = {}  # node id -> its attribute value (ids end several edges)
    a = 0
    h = sum(map(len, run.points))
    for src, dst, pts, spline, head in zip(run.src, run.dst, run.points, run.spline,
                                           run.heads):
        b = a + len(pts)
        if spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
            toks = pairs[a:b]  # "M p0 Cp1 p2 p3 Cp4 ...", as _points_d writes a spline
            toks[0] = "M" + toks[0]
            toks[1::3] = ["C" + t for t in toks[1::3]]
            d = " ".join(toks)
        else:
            d = "M" + " L".join(pairs[a:b])
        a = b
        qs = quoted.get(src)
        if qs is None:
            qs = quoted[src] = _quoted(src)
        qd = quoted.get(dst)
        if qd is None:
            qd = quoted[dst] = _quoted(dst)
        if head is None:
            append(f'<g class="edge" data-src={qs} data-dst={qd}>\n<path d="{d}{line_tail}\n</g>')
        else:
            append(f'<g class="edge" data-src={qs} data-dst={qd}>\n<path d="{d}{line_tail}\n'
                   f'<path d="M{pairs[h]} L{pairs[h + 1]} L{pairs[h + 2]}{head_tail}\n</g>')
            h += 3


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
        if type(run) is NodeRun:
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
