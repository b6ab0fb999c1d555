"""HTML: one self-contained interactive viewer page (canvas drawing, no network at all).

The page is a drill-down viewer. Every group of the scope tree gets its own small layout,
computed by the viewer stage (nnviz.viewer.page) with our Python layout engine: the group's
direct nodes, its child groups as single boxes, and "Input"/"Output" proxy boxes for the
tensors that cross its border. Opening a group in the page is a lookup of that precomputed
layout, never a layout in JavaScript. Each node is laid out in exactly one view and each group
box appears once in its parent's view, so the embedded data grows linearly with the model
(proxies add at most depth x edges).

All model data travels as base64 (of a deflated binary container, nnviz.viewer.payload) inside
an inert ``<script type="application/nnviz">``: no model string can end the element or be read
as markup, and the page's JavaScript only ever puts strings into the DOM with ``textContent``
or onto the canvas with ``fillText``. A Content-Security-Policy pins the
one inline script and style by hash and forbids every network fetch.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from functools import lru_cache
from typing import Any

from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.text import metrics
from nnviz.theme import Theme, load_theme, templates_dir
from nnviz.viewer.page import INLINE, pack_page
from nnviz.viewer.payload import encode

# Unicode ranges kept in the inlined font subset: Latin, Greek, punctuation, arrows, math
# symbols. Other characters fall back to the local sans-serif font.
_FONT_RANGES = ((0x20, 0x7F), (0xA0, 0x180), (0x370, 0x400), (0x2010, 0x2070),
                (0x2190, 0x2200), (0x2200, 0x2270))


# ---- themes and fonts --------------------------------------------------------------------------

def _alt_theme(theme: Theme) -> Theme:
    """The theme the page's light/dark toggle switches to."""
    dark = _is_dark(theme.get("background", "#ffffff"))
    want = "default" if dark else "dark"
    try:
        return load_theme(want)
    except Exception:  # noqa: BLE001 - dark.json may not exist yet: derive one
        return load_theme(None) if dark else _derived_dark(theme)


def _is_dark(color: str) -> bool:
    try:
        c = color.lstrip("#")
        r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    except (ValueError, IndexError):
        return False
    return 0.299 * r + 0.587 * g + 0.114 * b < 128


def _mix(color: str, other: str, t: float) -> str:
    try:
        a = [int(color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
        b = [int(other.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
    except (ValueError, IndexError):
        return color
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def _derived_dark(theme: Theme) -> Theme:
    """A dark variant of a light theme: dark fills tinted by each kind's stroke colour."""
    bg = "#0d1117"
    out = Theme(json.loads(json.dumps(theme)))
    out["name"] = "dark"
    out["background"] = bg
    out["font"] = {**theme["font"], "color": "#e6edf3", "muted": "#9198a1"}
    out["node"] = {**theme["node"], "stroke": "#8b949e"}
    out["edge"] = {**theme["edge"], "stroke": "#7d8590", "label_color": "#9198a1"}
    out["group"] = {**theme["group"], "fill": "#161b22", "stroke": "#3d444d",
                    "label_color": "#9198a1"}
    out["kinds"] = {k: {**v, "fill": _mix(bg, v.get("stroke", "#888888"), 0.22),
                        "stroke": _mix(v.get("stroke", "#888888"), "#ffffff", 0.15)}
                    for k, v in theme["kinds"].items()}
    return out


def _theme_for_page(theme: Theme) -> dict:
    keys = ("name", "background", "font", "node", "edge", "group", "kinds")
    return {k: theme[k] for k in keys if k in theme}


FONT_CSS = "viewer_fonts.css"  # in templates/: built once by `python -m nnviz.render.html`


@lru_cache(maxsize=2)
def _font_face_css() -> str:
    """The inline @font-face rules: the prebuilt file in templates/ (subsetting takes seconds),
    else built now."""
    path = templates_dir() / FONT_CSS
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return build_font_css()


def build_font_css() -> str:
    """The shipped DejaVu Sans, subset to the common ranges, as inline WOFF @font-face rules.
    The canvas then measures text exactly like the layout's metrics table does."""
    from nnviz.text import subset_font

    # fontTools logs a warning per table it cannot subset (FFTM): not the user's business.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    unicodes = [c for lo, hi in _FONT_RANGES for c in range(lo, hi)]
    rules = []
    for weight, key in ((400, "regular"), (700, "bold")):
        font = subset_font(key, unicodes=unicodes, features=("kern",), woff=True)
        data = base64.b64encode(font).decode("ascii")
        rules.append(f'@font-face{{font-family:"nnviz-dejavu";font-weight:{weight};'
                     f'src:url(data:font/woff;base64,{data}) format("woff")}}')
    return "\n".join(rules)


def _font_css_or_empty() -> str:
    try:
        return _font_face_css()
    except Exception:  # noqa: BLE001 - no brotli / fontTools: the local font stack is used
        return ""


# ---- the page ------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _template(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_page(graph: Graph, layout: Layout, theme: Theme, engine: str | None = None,
                direction: str | None = None, inline: int = INLINE, compress: bool = True) -> str:
    """The complete HTML document. ``compress=False``: page data not deflated (for a browser
    without DecompressionStream; about 5x bigger)."""
    engine = engine or (layout.engine if layout.engine in ("layered", "dot") else "layered")
    direction = direction or layout.direction or "TB"
    data = pack_page(graph, layout, theme, engine, direction, inline)
    face = metrics()["regular"]
    data["metrics"] = {"ascent": face["ascent"], "descent": face["descent"],
                       "upm": face["units_per_em"]}
    data["theme"] = _theme_for_page(theme)
    data["alt_theme"] = _theme_for_page(_alt_theme(theme))
    encoding, text = encode(data, compress)
    css = _font_css_or_empty() + "\n" + _template("viewer.css")
    js = _template("viewer.js")
    csp = ("default-src 'none'; script-src " + _csp_hash(js) + "; style-src " + _csp_hash(css)
           + "; font-src data:; img-src data: blob:; base-uri 'none'; form-action 'none'")
    values = {
        "CSP": html.escape(csp, quote=False).replace('"', "&quot;"),
        "TITLE": html.escape(f"{graph.name} \u2014 nnviz", quote=False),
        "CSS": css,
        "ENC": encoding,
        "DATA": text,
        "JS": js,
    }
    # One pass, so text inside the data can never be taken for a placeholder.
    return re.sub(r"\{\{(CSP|TITLE|CSS|ENC|DATA|JS)\}\}", lambda m: values[m.group(1)],
                  _template("viewer.html"))


def render(graph: Graph, layout: Layout, theme: Theme, **options: Any) -> str:
    """The viewer page; ``jupyter=True`` wraps it in a sandboxed iframe for notebook output,
    so several viewers on one page never share ids, styles or keyboard handlers. ``inline``:
    groups of at most this many nodes are drawn open inside their parent's view."""
    page = render_page(graph, layout, theme, engine=options.get("engine"),
                       direction=options.get("direction"),
                       inline=int(options.get("inline", INLINE)),
                       compress=bool(options.get("compress", True)))
    if options.get("jupyter"):
        height = int(options.get("height", 640))
        return (f'<iframe srcdoc="{html.escape(page, quote=True)}" '
                f'sandbox="allow-scripts allow-downloads" width="100%" height="{height}" '
                'style="border:1px solid #d0d7de;border-radius:6px" '
                f'title="{html.escape(graph.name, quote=True)} (nnviz viewer)"></iframe>')
    return page


if __name__ == "__main__":  # regenerate templates/viewer_fonts.css after a font change
    (templates_dir() / FONT_CSS).write_text(build_font_css() + "\n", encoding="utf-8")
