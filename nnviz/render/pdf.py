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
from nnviz.render.scene import Circle, Item, Path, Rect, Scene, Text, build_scene
from nnviz.text import FONT_FILES
from nnviz.theme import Theme

PT_PER_PX = 0.75
FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
FONT_NAME = "DejaVuSans"


def _rgb(color: str) -> tuple[int, int, int]:
    """'#rgb' / '#rrggbb' -> (r, g, b); anything else (a CSS name) falls back to black."""
    c = color.strip().lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        names = {"white": (255, 255, 255), "black": (0, 0, 0), "none": (255, 255, 255)}
        return names.get(color.strip().lower(), (0, 0, 0))


def _style_path(path, fill: str | None, stroke: str | None, width: float,
                dash: tuple[float, float] | None) -> None:
    from fpdf.drawing import DeviceRGB
    from fpdf.enums import PathPaintRule, StrokeJoinStyle

    def dev(c: str) -> DeviceRGB:
        r, g, b = _rgb(c)
        return DeviceRGB(r / 255, g / 255, b / 255)

    st = path.style
    st.auto_close = False  # fpdf2 closes paths by default: an open edge would get a chord back
    if fill:
        st.fill_color = dev(fill)
    if stroke:
        st.stroke_color = dev(stroke)
        st.stroke_width = width * PT_PER_PX
        st.stroke_join_style = StrokeJoinStyle.ROUND
        if dash:
            st.stroke_dash_pattern = [dash[0] * PT_PER_PX, dash[1] * PT_PER_PX]
    if fill and stroke:
        st.paint_rule = PathPaintRule.STROKE_FILL_NONZERO
    elif fill:
        st.paint_rule = PathPaintRule.FILL_NONZERO
    else:
        st.paint_rule = PathPaintRule.STROKE


def _draw(pdf, it: Item) -> None:
    s = PT_PER_PX
    if isinstance(it, Text):
        if not it.text:
            return
        pdf.set_font(FONT_NAME, "B" if it.bold else "", it.size * s)
        pdf.set_text_color(*_rgb(it.color))
        x = it.x * s
        if it.anchor != "start":
            width = pdf.get_string_width(it.text)
            x -= width / 2 if it.anchor == "middle" else width
        pdf.text(x, it.y * s, it.text)
        return
    if isinstance(it, Rect | Circle | Path) and not (it.fill or it.stroke):
        return
    with pdf.new_path() as path:
        if isinstance(it, Rect):
            _style_path(path, it.fill, it.stroke, it.width, it.dash)
            r = min(it.radius, it.w / 2, it.h / 2) * s
            path.rectangle(it.x * s, it.y * s, it.w * s, it.h * s, r, r)
        elif isinstance(it, Circle):
            _style_path(path, it.fill, it.stroke, it.width, None)
            path.circle(it.cx * s, it.cy * s, it.r * s)
        elif isinstance(it, Path):
            _style_path(path, it.fill, it.stroke, it.width, it.dash)
            pts = [(x * s, y * s) for x, y in it.points]
            path.move_to(*pts[0])
            if it.spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
                for i in range(1, len(pts), 3):
                    path.curve_to(*pts[i], *pts[i + 1], *pts[i + 2])
            else:
                for p in pts[1:]:
                    path.line_to(*p)
            if it.closed:
                path.close()


def scene_to_pdf(scene: Scene) -> bytes:
    from fpdf import FPDF

    s = PT_PER_PX
    pdf = FPDF(unit="pt", format=(max(scene.width * s, 1.0), max(scene.height * s, 1.0)))
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(scene.title)
    pdf.set_creator("nnviz")
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    pdf.add_font(FONT_NAME, "", str(FONT_FILES["regular"]))
    pdf.add_font(FONT_NAME, "B", str(FONT_FILES["bold"]))
    pdf.add_page()
    pdf.set_fill_color(*_rgb(scene.background))
    pdf.rect(0, 0, scene.width * s, scene.height * s, style="F")
    for item in scene.items():
        _draw(pdf, item)
    return bytes(pdf.output())


def render(graph: Graph, layout: Layout, theme: Theme, **options) -> bytes:
    return scene_to_pdf(build_scene(graph, layout, theme))
