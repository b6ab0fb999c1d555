"""PDF: true vector output drawn from the Scene with fpdf2, with the shipped font embedded.

The same Scene as the SVG, so the geometry is identical; px become pt at 96 px per inch
(1 px = 0.75 pt), which keeps the figure's physical size equal to the SVG's. DejaVu Sans is
embedded (subset), so the file shows the same text on a machine with no fonts installed.
The creation date is fixed so the same input gives byte-identical files.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.render.build import build_scene
from nnviz.render.scene import Circle, Item, Path, Rect, Scene, Text, to_rgb
from nnviz.text import FONT_FILES
from nnviz.theme import Theme

PT_PER_PX = 0.75
FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
FONT_NAME = "DejaVuSans"


def _rgb(color: str) -> tuple[int, int, int]:
    """A theme colour as 0-255 RGB; an unreadable one falls back to black (visible)."""
    return to_rgb(color) or (0, 0, 0)


KAPPA = 0.5522847498  # cubic Bezier handle length for a quarter circle


def _n(v: float) -> str:
    out = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def _color_op(color: str, op: str) -> str:
    r, g, b = _rgb(color)
    return f"{_n(r / 255)} {_n(g / 255)} {_n(b / 255)} {op}"


def _shape_ops(it: Item, page_h: float, s: float) -> str:
    """PDF operators for one shape, inside q/Q so fpdf2's own state bookkeeping stays true.

    Written directly (not via fpdf2's drawing API, ~3 ms per shape) so that a graph with
    tens of thousands of shapes still renders in seconds. ``s`` is pt per px.
    """

    def pt(x: float, y: float) -> str:  # px, y down -> pt, y up
        return f"{_n(x * s)} {_n(page_h - y * s)}"

    ops = ["q"]
    fill, stroke = it.fill, it.stroke
    if fill:
        ops.append(_color_op(fill, "rg"))
    if stroke:
        ops.append(_color_op(stroke, "RG"))
        ops.append(f"{_n(it.width * s)} w 1 j 1 J")
        dash = getattr(it, "dash", None)
        if dash:
            ops.append(f"[{_n(dash[0] * s)} {_n(dash[1] * s)}] 0 d")
    if isinstance(it, Rect):
        r = max(0.0, min(it.radius, it.w / 2, it.h / 2))
        x0, y0, x1, y1 = it.x, it.y, it.x + it.w, it.y + it.h
        if r <= 0:
            ops.append(f"{_n(x0 * s)} {_n(page_h - y1 * s)} {_n(it.w * s)} {_n(it.h * s)} re")
        else:
            k = r * (1 - KAPPA)
            ops += [f"{pt(x0 + r, y0)} m", f"{pt(x1 - r, y0)} l",
                    f"{pt(x1 - k, y0)} {pt(x1, y0 + k)} {pt(x1, y0 + r)} c",
                    f"{pt(x1, y1 - r)} l",
                    f"{pt(x1, y1 - k)} {pt(x1 - k, y1)} {pt(x1 - r, y1)} c",
                    f"{pt(x0 + r, y1)} l",
                    f"{pt(x0 + k, y1)} {pt(x0, y1 - k)} {pt(x0, y1 - r)} c",
                    f"{pt(x0, y0 + r)} l",
                    f"{pt(x0, y0 + k)} {pt(x0 + k, y0)} {pt(x0 + r, y0)} c", "h"]
    elif isinstance(it, Circle):
        cx, cy, r = it.cx, it.cy, it.r
        k = r * KAPPA
        ops += [f"{pt(cx + r, cy)} m",
                f"{pt(cx + r, cy + k)} {pt(cx + k, cy + r)} {pt(cx, cy + r)} c",
                f"{pt(cx - k, cy + r)} {pt(cx - r, cy + k)} {pt(cx - r, cy)} c",
                f"{pt(cx - r, cy - k)} {pt(cx - k, cy - r)} {pt(cx, cy - r)} c",
                f"{pt(cx + k, cy - r)} {pt(cx + r, cy - k)} {pt(cx + r, cy)} c", "h"]
    else:  # Path: open unless closed (an edge must not get a chord back to its start)
        pts = it.points
        ops.append(f"{pt(*pts[0])} m")
        if it.spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
            for i in range(1, len(pts), 3):
                ops.append(f"{pt(*pts[i])} {pt(*pts[i + 1])} {pt(*pts[i + 2])} c")
        else:
            ops.extend(f"{pt(*p)} l" for p in pts[1:])
        if it.closed:
            ops.append("h")
    ops.append("B" if fill and stroke else "f" if fill else "S")
    ops.append("Q")
    return " ".join(ops)


def _in_font(text: str, bold: bool) -> str:
    """Characters DejaVu Sans has no glyph for (CJK, emoji) become '?' instead of blanks."""
    from nnviz.text import metrics

    widths = metrics()["bold" if bold else "regular"]["widths"]
    return "".join(ch if ord(ch) in widths or ch == " " else "?" for ch in text)


def _draw(pdf, it: Item, page_h: float, s: float) -> None:
    if isinstance(it, Text):
        if not it.text:
            return
        text = _in_font(it.text, it.bold)
        pdf.set_font(FONT_NAME, "B" if it.bold else "", it.size * s)
        pdf.set_text_color(*_rgb(it.color))
        x = it.x * s
        if it.anchor != "start":
            width = pdf.get_string_width(text)
            x -= width / 2 if it.anchor == "middle" else width
        pdf.text(x, it.y * s, text)
        return
    if not (it.fill or it.stroke):
        return
    if isinstance(it, Path) and len(it.points) < 2:
        return
    pdf._out(_shape_ops(it, page_h, s))  # fpdf2's raw content hook (see _shape_ops)


def scene_to_pdf(scene: Scene, width_in: float | None = None) -> bytes:
    from fpdf import FPDF

    from nnviz.render import physical
    from nnviz.render.tikz import bp_per_px

    # PDF viewers (Acrobat) refuse pages over 200 in: a huge graph is scaled down to fit.
    s = bp_per_px(scene)
    if width_in:  # the page is exactly the asked width
        s = min(physical.bp_per_px(scene, width_in), s * 200 * 72 / max(
            scene.width * s, scene.height * s, 1.0))
    pdf = FPDF(unit="pt", format=(max(scene.width * s, 1.0), max(scene.height * s, 1.0)))
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(scene.title)
    pdf.set_creator("nnviz")
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    items = scene.items()
    # Loading a face costs ~0.4 s (fontTools parse): only load the faces the scene uses.
    texts = [it for it in items if isinstance(it, Text) and it.text]
    if any(not t.bold for t in texts):
        pdf.add_font(FONT_NAME, "", str(FONT_FILES["regular"]))
    if any(t.bold for t in texts):
        pdf.add_font(FONT_NAME, "B", str(FONT_FILES["bold"]))
    pdf.add_page()
    if scene.background:
        pdf.set_fill_color(*_rgb(scene.background))
        pdf.rect(0, 0, pdf.w, pdf.h, style="F")
    page_h = pdf.h
    for item in items:
        _draw(pdf, item, page_h, s)
    return bytes(pdf.output())


def render(graph: Graph, layout: Layout, theme: Theme, width: str | float | None = None,
           **options) -> bytes:
    from nnviz.render.physical import parse_length

    width_in = parse_length(width) if width is not None else None
    return scene_to_pdf(build_scene(graph, layout, theme), width_in=width_in)
