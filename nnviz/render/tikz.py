"""TikZ (.tex): the shared Scene as a tikzpicture, standalone or as a snippet for a paper.

The picture uses ``x=0.75bp, y=-0.75bp``, so coordinates are the layout's px (96 per inch,
y down) and the figure has the same physical size as the SVG and PDF. Every user string is
escaped for LaTeX; colours are defined inside the picture, so a snippet needs only
``\\usepackage{tikz}``. Text uses the document's sans-serif font, which is narrower than
DejaVu Sans, so labels still fit the boxes sized from DejaVu metrics.
"""

from __future__ import annotations

import warnings

from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.render.build import build_scene
from nnviz.render.scene import (
    Circle,
    Item,
    Path,
    Rect,
    Scene,
    Text,
    clean_text,
    to_rgb,
)
from nnviz.theme import Theme, templates_dir

PT_PER_PX = 0.75
# Measured: 4,200 shapes compile with pdflatex's default main memory, 12,000 do not.
MANY_SHAPES = 6000
MAX_BP = 14400.0  # TeX dimensions stop at 16383 pt; 14400 bp (200 in) is also PDF's page limit


def bp_per_px(scene: Scene) -> float:
    """0.75 (96 px per inch), or less for a figure that would exceed MAX_BP: TeX cannot
    even measure a longer picture, so a huge graph is scaled down to fit, text included."""
    longest = max(scene.width, scene.height, 1.0) * PT_PER_PX
    return PT_PER_PX if longest <= MAX_BP else PT_PER_PX * MAX_BP / longest

# Each LaTeX special becomes something that typesets in the default OT1 encoding (no
# fontenc, no cm-super): OT1 lacks <, >, ", | and \\, and textcomp would take ~, ^ and $ from
# TS1, a bitmap-only font there, so those come from math or the typewriter font.
_LATEX = {
    "\\": r"\ensuremath{\backslash}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_",
    "$": r"{\ttfamily\char36}", "{": r"\{", "}": r"\}",
    "~": r"{\ttfamily\char126}", "^": r"{\ttfamily\char94}",
    "<": r"\ensuremath{<}", ">": r"\ensuremath{>}", '"': r"{\ttfamily\char34}",
    "|": r"\ensuremath{|}",
    "[": "{[}", "]": "{]}",  # braces keep brackets from ending an optional argument
    # grouped to break TeX ligatures: "--" prints an en dash, "''" a curly double quote,
    # "!`" an inverted exclamation mark
    "-": "{-}", "`": "{`}", "'": "{'}",
    "\u00d7": r"\ensuremath{\times}", "\u2026": r"\ldots{}", "\u2208": r"\ensuremath{\in}",
    "\u00b7": r"\ensuremath{\cdot}", "\u2192": r"\ensuremath{\rightarrow}",
    "\u2013": "--", "\u2014": "---", "\u22ee": r"\ensuremath{\vdots}",
    "\u2019": "'", "\u2018": "`", "\u201c": "``", "\u201d": "''",
}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX that typesets the same characters in any encoding.

    Characters with no portable LaTeX spelling (other non-ASCII) become ``?`` rather than
    breaking the compile.
    """
    out = []
    for ch in clean_text(text):
        rep = _LATEX.get(ch)
        if rep is not None:
            out.append(rep)
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _f(v: float) -> str:
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _pt(v: float, k: float) -> str:
    return _f(v * k) + "bp"


class _Colors:
    """Named colours in first-use order, so the same scene gives the same names."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def __call__(self, color: str) -> str:
        key = color.strip().lower()
        if key not in self.names:
            self.names[key] = f"nnviz{len(self.names)}"
        return self.names[key]

    def definitions(self) -> list[str]:
        out = []
        for color, name in self.names.items():
            rgb = to_rgb(color)
            if rgb is not None:
                out.append(f"\\definecolor{{{name}}}{{RGB}}{{{rgb[0]},{rgb[1]},{rgb[2]}}}")
            else:  # a colour we cannot read: black is at least visible
                out.append(f"\\colorlet{{{name}}}{{black}}")
        return out


def _paint(colors: _Colors, k: float, fill: str | None, stroke: str | None, width: float,
           dash: tuple[float, float] | None = None) -> str:
    opts = []
    if fill:
        opts.append(f"fill={colors(fill)}")
    if stroke:
        opts.append(f"draw={colors(stroke)}")
        opts.append(f"line width={_pt(width, k)}")
        opts.append("line join=round")
        if dash:
            opts.append(f"dash pattern=on {_pt(dash[0], k)} off {_pt(dash[1], k)}")
    return ", ".join(opts)


def _xy(p: tuple[float, float]) -> str:
    return f"({_f(p[0])},{_f(p[1])})"


def _item(it: Item, colors: _Colors, k: float) -> str | None:
    if isinstance(it, Text):
        if not it.text:
            return None
        anchor = {"start": "base west", "end": "base east"}.get(it.anchor, "base")
        size = it.size * k
        font = f"\\fontsize{{{_f(size)}bp}}{{{_f(size * 1.2)}bp}}\\selectfont\\sffamily"
        if it.bold:
            font += "\\bfseries"
        return (f"\\node[anchor={anchor}, inner sep=0pt, text={colors(it.color)}, "
                f"font={font}] at {_xy((it.x, it.y))} {{{latex_escape(it.text)}}};")
    if not (it.fill or it.stroke):
        return None
    if isinstance(it, Rect):
        opts = _paint(colors, k, it.fill, it.stroke, it.width, it.dash)
        r = min(it.radius, it.w / 2, it.h / 2)
        if r > 0:
            opts += f", rounded corners={_pt(r, k)}"
        return f"\\path[{opts}] {_xy((it.x, it.y))} rectangle {_xy((it.x + it.w, it.y + it.h))};"
    if isinstance(it, Circle):
        opts = _paint(colors, k, it.fill, it.stroke, it.width)
        return f"\\path[{opts}] {_xy((it.cx, it.cy))} circle[radius={_pt(it.r, k)}];"
    if isinstance(it, Path):
        opts = _paint(colors, k, it.fill, it.stroke, it.width, it.dash)
        pts = it.points
        if it.spline and len(pts) >= 4 and (len(pts) - 1) % 3 == 0:
            parts = [_xy(pts[0])]
            for i in range(1, len(pts), 3):
                parts.append(f".. controls {_xy(pts[i])} and {_xy(pts[i + 1])} .. "
                             f"{_xy(pts[i + 2])}")
            body = " ".join(parts)
        else:
            body = " -- ".join(_xy(p) for p in pts)
        if it.closed:
            body += " -- cycle"
        return f"\\path[{opts}] {body};"
    raise TypeError(f"unknown scene item {type(it).__name__}")


def scene_to_tikz(scene: Scene, width_in: float | None = None) -> str:
    """The tikzpicture environment (self-contained: it defines its own colours); at
    ``width_in`` inches wide when given (text included: the fonts are scaled too)."""
    from nnviz.render import physical

    colors = _Colors()
    k = bp_per_px(scene)
    if width_in:
        k = min(physical.bp_per_px(scene, width_in), MAX_BP / max(scene.width, scene.height))
    body: list[str] = []
    if scene.background:
        bg = colors(scene.background)
        body.append(f"\\path[fill={bg}] (0,0) rectangle {_xy((scene.width, scene.height))};")
    for cls, _data, items in scene.layers:
        lines = [line for line in (_item(it, colors, k) for it in items) if line]
        if lines:
            body.append(f"% {cls}")
            body.extend(lines)
    out = [f"% nnviz: {latex_escape(scene.title)}",
           f"\\begin{{tikzpicture}}[x={k:.6g}bp, y=-{k:.6g}bp]",
           *colors.definitions(),
           f"\\useasboundingbox (0,0) rectangle {_xy((scene.width, scene.height))};",
           *body,
           "\\end{tikzpicture}"]
    return "\n".join(out) + "\n"


def render(graph: Graph, layout: Layout, theme: Theme, snippet: bool = False,
           width: str | float | None = None, **options) -> str:
    from nnviz.render.physical import parse_length

    width_in = parse_length(width) if width is not None else None
    scene = build_scene(graph, layout, theme)
    shapes = len(scene.items())
    if shapes > MANY_SHAPES:
        warnings.warn(f"the TikZ picture has {shapes:,} shapes; pdflatex's default memory holds "
                      f"about {MANY_SHAPES:,} (compile with lualatex, collapse groups with "
                      "--depth, or write PDF instead)", stacklevel=2)
    picture = scene_to_tikz(scene, width_in)
    if snippet:
        return picture
    template = (templates_dir() / "tikz.tex").read_text(encoding="utf-8")
    return (template.replace("%%NNVIZ_TITLE%%", latex_escape(graph.name))
            .replace("%%NNVIZ_PICTURE%%", picture.rstrip("\n")))
