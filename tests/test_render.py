"""Publication outputs: SVG, PNG, PDF, TikZ and JSON from one laid-out graph.

Graphs are built with nnviz.ir directly; every output is parsed back (XML parser, PNG decoder,
pypdf, json.loads, pdflatex) rather than grepped.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from math import ceil
from pathlib import Path

import pytest

import nnviz
from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.layout import STYLES as LAYOUT_STYLES
from nnviz.render import render_bytes
from nnviz.render.build import build_scene
from nnviz.render.png import png_size
from nnviz.render.scene import Text, clean_text
from nnviz.render.tikz import latex_escape
from nnviz.text import ascent, text_width

HOSTILE = 'a&%$#_{}~^\\<>"\nb]]>'
STYLES = tuple(LAYOUT_STYLES)  # every registered style
SVG_NS = "{http://www.w3.org/2000/svg}"


def cnn(hostile: bool = False) -> Graph:
    """A LeNet-shaped conv net; with ``hostile`` every layer name is full of specials."""
    g = Graph(name="lenet" + (HOSTILE if hostile else ""))
    spec = [("input", "Input", "io", (1, 1, 28, 28)), ("conv1", "Conv", "conv", (1, 6, 28, 28)),
            ("relu1", "Relu", "activation", (1, 6, 28, 28)),
            ("pool1", "MaxPool", "pool", (1, 6, 14, 14)),
            ("conv2", "Conv", "conv", (1, 16, 10, 10)), ("pool2", "MaxPool", "pool", (1, 16, 5, 5)),
            ("flat", "Flatten", "reshape", (1, 400)), ("fc1", "Gemm", "linear", (1, 120)),
            ("fc2", "Gemm", "linear", (1, 10))]
    prev = None
    for nid, op, kind, shape in spec:
        tid = nid + ":0"
        g.add_tensor(Tensor(tid, shape, "float32"))
        params = []
        if kind in ("conv", "linear"):
            params = [Param(f"{nid}.weight", (shape[1], 4), "float32")]
        group = ("features",) if kind in ("conv", "pool", "activation") else ()
        if group:
            g.ensure_group(group)
        name = HOSTILE + nid if hostile and kind != "io" else nid
        g.add_node(Node(nid, op, kind, name, inputs=[prev] if prev else [], outputs=[tid],
                        params=params, group=group))
        prev = tid
    g.inputs = ["input:0"]
    g.add_node(Node("output", "Output", "io", "y", inputs=[prev]))
    g.outputs = [prev]
    return g


def draw(style: str = "graph", theme: str | None = None, hostile: bool = True,
         **kw) -> nnviz.api.Drawing:
    return nnviz.draw(cnn(hostile), style=style, theme=theme,
                      direction="LR" if style != "graph" else "TB", **kw)


def decode_png(data: bytes) -> tuple[int, int, list[bytearray], dict[bytes, bytes]]:
    """Width, height, RGBA rows and the raw chunks of an 8-bit RGBA PNG (what resvg writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, ctype) == (8, 6)
    raw, bpp, stride = zlib.decompress(idat), 4, w * 4
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows, chunks


def ink(rows: list[bytearray], x0: float, y0: float, x1: float, y1: float) -> int:
    """Pixels in the box that are clearly darker than the white background."""
    n = 0
    for y in range(max(0, int(y0)), min(len(rows), int(y1) + 1)):
        row = rows[y]
        for x in range(max(0, int(x0)), min(len(row) // 4, int(x1) + 1)):
            if row[4 * x] + row[4 * x + 1] + row[4 * x + 2] < 3 * 160:
                n += 1
    return n


# ---- SVG --------------------------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_svg_is_valid_xml_and_keeps_hostile_names(style: str) -> None:
    svg = draw(style).to_bytes("svg")
    root = ET.fromstring(svg)
    assert root.tag == SVG_NS + "svg"
    texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
    clean = clean_text(HOSTILE)
    if style == "graph":
        assert clean + "conv1" in texts
    else:  # paper labels are capped in width: the name may lose its head to an ellipsis
        assert any(t.endswith('<>" b]]>conv1') for t in texts), texts
    assert "".join(root.find(SVG_NS + "title").itertext()) == "lenet" + clean


def test_svg_text_sits_inside_its_box() -> None:
    d = draw("graph")
    root = ET.fromstring(d.to_bytes("svg"))
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") != "node":
            continue
        rect = g.find(SVG_NS + "rect")
        x, w = float(rect.get("x")), float(rect.get("width"))
        y, h = float(rect.get("y")), float(rect.get("height"))
        for t in g.iter(SVG_NS + "text"):
            size = float(t.get("font-size"))
            tw = text_width("".join(t.itertext()), size, t.get("font-weight") == "bold")
            cx, base = float(t.get("x")), float(t.get("y"))
            assert x <= cx - tw / 2 and cx + tw / 2 <= x + w + 0.01
            assert y <= base - ascent(size) and base <= y + h


# ---- PNG --------------------------------------------------------------------------------

def test_png_size_dpi_and_text_pixels() -> None:
    d = draw("graph")
    w, h, rows, chunks = decode_png(d.to_bytes("png"))
    assert (w, h) == png_size(d.layout.width, d.layout.height)
    assert b"pHYs" in chunks
    # Pixels where the first title is drawn are dark; the empty top-left corner is blank.
    scene = build_scene(d.graph, d.layout, d.theme)
    title = next(t for t in scene.items() if isinstance(t, Text) and t.bold)
    tw = text_width(title.text, title.size, True)
    box = (title.x - tw / 2, title.y - ascent(title.size), title.x + tw / 2, title.y)
    assert ink(rows, *box) > 20
    assert ink(rows, 0, 0, 6, 6) == 0

    d2 = draw("graph", dpi=192)
    w2, h2, rows2, chunks2 = decode_png(d2.to_bytes("png"))
    assert (w2, h2) == png_size(d.layout.width, d.layout.height, 2)
    ppm = struct.unpack(">I", chunks2[b"pHYs"][:4])[0]
    assert ppm == round(192 / 0.0254)
    assert ink(rows2, *(2 * v for v in box)) > 4 * 20 * 0.8
    w3, h3, _, _ = decode_png(draw("graph", scale=1.5).to_bytes("png"))
    assert (w3, h3) == png_size(d.layout.width, d.layout.height, 1.5)


@pytest.mark.parametrize("style", ["neurons", "blocks"])
def test_png_of_paper_styles_has_labels(style: str) -> None:
    d = draw(style, theme="paper")
    w, h, rows, _ = decode_png(d._repr_png_())
    assert (w, h) == png_size(d.layout.width, d.layout.height)
    texts = [t for t in build_scene(d.graph, d.layout, d.theme).items() if isinstance(t, Text)]
    first = texts[0]
    tw = text_width(first.text, first.size, first.bold)
    x0 = first.x - (tw / 2 if first.anchor == "middle" else 0)
    assert ink(rows, x0, first.y - ascent(first.size), x0 + tw, first.y) > 10


def test_png_bad_options_are_one_sentence() -> None:
    with pytest.raises(NnvizError, match="dpi"):
        draw("graph", dpi=0).to_bytes("png")
    with pytest.raises(NnvizError, match="scale"):
        draw("graph", scale=-1).to_bytes("png")


# ---- PDF --------------------------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_pdf_is_vector_with_embedded_font(style: str) -> None:
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF back")
    d = draw(style)
    data = d.to_bytes("pdf")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert float(page.mediabox.width) == pytest.approx(ceil(d.layout.width) * 0.75, abs=0.01)
    assert float(page.mediabox.height) == pytest.approx(ceil(d.layout.height) * 0.75, abs=0.01)
    fonts = page["/Resources"]["/Font"]
    embedded = []
    for ref in fonts.values():
        font = ref.get_object()
        desc = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        if "/FontFile2" in desc:
            embedded.append(str(font["/BaseFont"]))
    assert any("DejaVuSans" in name for name in embedded), embedded
    # the paper styles wrap long names over lines: compare the text without line breaks
    text = page.extract_text().replace("\n", "")
    assert "Input" in text and '_{}~^\\<>" b]]>conv1' in text
    assert not page.images  # vector, not a raster in a PDF wrapper


def test_pdf_bytes_are_deterministic() -> None:
    assert draw("graph").to_bytes("pdf") == draw("graph").to_bytes("pdf")


# ---- TikZ -------------------------------------------------------------------------------

def test_latex_escape_covers_every_special() -> None:
    out = latex_escape(HOSTILE)
    assert out == (r"a\&\%{\ttfamily\char36}\#\_\{\}{\ttfamily\char126}{\ttfamily\char94}"
                   r"\ensuremath{\backslash}\ensuremath{<}\ensuremath{>}{\ttfamily\char34} "
                   r"b{]}{]}\ensuremath{>}")
    assert latex_escape("x\u00d73 \u2026") == r"x\ensuremath{\times}3 \ldots{}"
    assert latex_escape("a--b !`c''") == "a{-}{-}b !{`}c{'}{'}"


def test_tikz_snippet_and_document() -> None:
    d = draw("graph")
    snippet = render_bytes(d.graph, d.layout, "tex", d.theme, snippet=True).decode()
    assert snippet.lstrip().startswith("% nnviz") and "\\begin{tikzpicture}" in snippet
    assert "\\documentclass" not in snippet
    doc = d.to_bytes("tex").decode()
    assert "\\documentclass" in doc and snippet.strip() in doc


@pytest.mark.parametrize("style", STYLES)
def test_tikz_compiles_with_pdflatex(style: str, tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base "
                    "texlive-pictures texlive-latex-recommended)")
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF back")
    d = draw(style)
    (tmp_path / "fig.tex").write_bytes(d.to_bytes("tex"))
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "fig.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:]
    reader = pypdf.PdfReader(tmp_path / "fig.pdf")
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    # cropped to the picture: same physical size as the SVG/PDF (px * 0.75 pt)
    assert float(box.width) == pytest.approx(ceil(d.layout.width) * 0.75, abs=0.1)
    assert float(box.height) == pytest.approx(ceil(d.layout.height) * 0.75, abs=0.1)
    assert "Input" in reader.pages[0].extract_text()


# ---- JSON -------------------------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_json_round_trips_names_and_geometry(style: str) -> None:
    d = draw(style)
    doc = json.loads(d.to_bytes("json"))
    assert doc["schema"] == "nnviz.layout/1"
    assert doc["layout"]["style"] == style
    assert {n["id"] for n in doc["nodes"]} == set(d.layout.nodes)
    conv = next(n for n in doc["nodes"] if n["id"] == "conv1")
    assert conv["name"] == HOSTILE + "conv1"  # exact, newline included
    assert conv["outputs"][0]["shape"] == [1, 6, 28, 28]
    assert conv["paint"]["fill"] == d.theme["kinds"]["conv"]["fill"]
    box = conv["box"]
    assert 0 <= box["x"] and box["x"] + box["w"] <= doc["layout"]["width"] + 0.01
    for e in doc["edges"]:
        assert len(e["points"]) >= 2 and e["src"] in d.layout.nodes


# ---- determinism, themes, API, CLI --------------------------------------------------------

@pytest.mark.parametrize("fmt", ["svg", "png", "pdf", "tex", "json"])
def test_outputs_are_byte_identical_across_runs(fmt: str) -> None:
    for style in STYLES:
        assert draw(style).to_bytes(fmt) == draw(style).to_bytes(fmt), style


def test_paper_theme_is_grayscale() -> None:
    import re

    for style in STYLES:
        svg = draw(style, theme="paper").to_bytes("svg").decode()
        colours = set(re.findall(r'(?:fill|stroke)="#([0-9a-fA-F]{6})"', svg))
        assert colours
        for c in colours:
            assert c[0:2] == c[2:4] == c[4:6], c


def test_user_theme_file(tmp_path: Path) -> None:
    theme = tmp_path / "mine.json"
    theme.write_text(json.dumps({"background": "#123456",
                                 "kinds": {"conv": {"fill": "#abcdef"}}}))
    svg = draw("graph", theme=str(theme)).to_bytes("svg").decode()
    assert 'fill="#123456"' in svg and 'fill="#abcdef"' in svg
    # "none" means no paint in every format (SVG keeps it; PDF and TikZ must not guess a colour)
    clear = tmp_path / "clear.json"
    clear.write_text(json.dumps({"group": {"fill": "none"}, "kinds": {"conv": {"fill": "none"}}}))
    d = draw("graph", theme=str(clear))
    assert "\\colorlet" not in d.to_bytes("tex").decode()  # no unknown colour mapped to black
    assert d.to_bytes("pdf")[:5] == b"%PDF-"
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(NnvizError, match="bad.json"):
        draw("graph", theme=str(bad))


def test_drawing_reprs_for_jupyter() -> None:
    d = draw("blocks")
    assert d._repr_svg_().startswith("<svg")
    assert d._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_writes_every_format(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nnviz.cli import main

    model = tmp_path / "model.json"
    model.write_text(cnn(True).to_json())
    runner = CliRunner()
    for ext in ("svg", "png", "pdf", "tex", "json"):
        out = tmp_path / f"net.{ext}"
        res = runner.invoke(main, [str(model), "-o", str(out), "--style", "blocks",
                                   "--theme", "paper"])
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 200
    out = tmp_path / "snip.tex"
    res = runner.invoke(main, [str(model), "-o", str(out), "--tikz-snippet", "--debug"])
    assert res.exit_code == 0, res.output
    assert "\\documentclass" not in out.read_text()
    res = runner.invoke(main, [str(model), "-o", str(tmp_path / "x.png"), "--dpi", "-3"])
    assert res.exit_code == 1 and "dpi" in res.output and "Traceback" not in res.output


def test_pdf_open_edges_stay_open() -> None:
    """An elbow edge must not get a closing chord back to its start (fpdf2 auto-closes)."""
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF back")
    from nnviz.render.pdf import scene_to_pdf
    from nnviz.render.scene import Path as ScenePath
    from nnviz.render.scene import Scene

    elbow = [(10.0, 10.0), (10.0, 50.0), (90.0, 50.0), (90.0, 90.0)]
    curve = [(10.0, 10.0), (10.0, 60.0), (90.0, 40.0), (90.0, 90.0)]
    scene = Scene(100, 100, "#ffffff", "t", [("edge", {}, [
        ScenePath(elbow, None, "#000000", 1.0),
        ScenePath(curve, None, "#000000", 1.0, spline=True)])])
    reader = pypdf.PdfReader(io.BytesIO(scene_to_pdf(scene)))
    ops = reader.pages[0].get_contents().get_data().decode("latin-1")
    strokes = [seg for seg in ops.split(" S") if " m " in seg]
    assert len(strokes) == 2
    for seg in strokes:
        assert not seg.rstrip().endswith("h"), seg
    # same geometry as the SVG, in pt with y up: (90, 50) px -> (67.5, 75 - 37.5) pt
    assert "7.5 67.5 m 7.5 37.5 l 67.5 37.5 l 67.5 7.5 l S" in ops


def test_names_outside_the_font_and_bidi_overrides(caplog: pytest.LogCaptureFixture) -> None:
    g = cnn(False)
    g.nodes["conv1"].name = "\u6a21\u578b\U0001f642\u202eevil"
    d = nnviz.draw(g)
    texts = ["".join(t.itertext()) for t in ET.fromstring(d.to_bytes("svg")).iter(SVG_NS + "text")]
    assert "\u6a21\u578b\U0001f642 evil" in texts  # SVG keeps it (viewers may have the font)
    with caplog.at_level("WARNING"):
        pdf = d.to_bytes("pdf")
    assert not [r for r in caplog.records if "missing" in r.getMessage()]
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF back")
    assert "??? evil" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "??? evil" in d.to_bytes("tex").decode()


def test_huge_figures_are_scaled_to_fit_pdf_and_tex(tmp_path: Path) -> None:
    """A 30,000 px tall graph: TeX cannot measure it and Acrobat refuses pages over 200 in."""
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF back")
    from nnviz.render.pdf import scene_to_pdf
    from nnviz.render.scene import Rect, Scene
    from nnviz.render.tikz import MAX_BP, scene_to_tikz

    scene = Scene(200, 40000, "#ffffff", "tall", [("node", {}, [
        Rect(10, 39000, 100, 50, "#eeeeee", "#000000", 1.0, 4.0),
        Text(60, 39030, "bottom", 10, "#000000")])])
    box = pypdf.PdfReader(io.BytesIO(scene_to_pdf(scene))).pages[0].mediabox
    assert float(box.height) == pytest.approx(MAX_BP)
    assert float(box.width) == pytest.approx(200 * MAX_BP / 40000)
    tex = scene_to_tikz(scene)
    k = 0.75 * MAX_BP / (40000 * 0.75)
    assert f"[x={k:.6g}bp, y=-{k:.6g}bp]" in tex
    if shutil.which("pdflatex") is None:
        return
    doc = tmp_path / "tall.tex"
    doc.write_text("\\documentclass{article}\\usepackage{tikz}\\begin{document}\n" + tex
                   + "\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-1500:]


def test_tikz_warns_when_pdflatex_memory_will_not_hold_it() -> None:
    from nnviz.layout.model import LabelLine, Layout, NodeBox
    from nnviz.render.tikz import MANY_SHAPES
    from nnviz.render.tikz import render as render_tikz
    from nnviz.theme import load_theme

    g = Graph(name="wide")
    lay = Layout(width=100, height=100)
    for i in range(MANY_SHAPES // 3 + 1):  # a box and two text lines each
        g.add_node(Node(f"n{i}", "Relu", "activation"))
        lay.nodes[f"n{i}"] = NodeBox(f"n{i}", 0, 0, 10, 10,
                                     [LabelLine("Relu", "title"), LabelLine("x")])
    with pytest.warns(UserWarning, match="lualatex"):
        render_tikz(g, lay, load_theme())
    del lay.nodes["n0"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_tikz(g, lay, load_theme())


def test_png_refuses_absurd_sizes_in_one_sentence() -> None:
    with pytest.raises(NnvizError, match="too large"):
        draw("graph", scale=400).to_bytes("png")


def test_svg_can_embed_a_subset_of_the_font() -> None:
    import base64
    import re

    from fontTools.ttLib import TTFont

    d = draw("graph")
    plain = d.to_bytes("svg")
    emb = render_bytes(d.graph, d.layout, "svg", d.theme, embed_font=True)
    assert b"@font-face" not in plain and emb.count(b"@font-face") == 2  # regular and bold
    assert emb == render_bytes(d.graph, d.layout, "svg", d.theme, embed_font=True)
    root = ET.fromstring(emb)
    assert root.get("font-family").startswith("'nnviz DejaVu Sans'")
    used = {ch for t in root.iter(SVG_NS + "text") for ch in "".join(t.itertext())}
    fonts = re.findall(rb"base64,([A-Za-z0-9+/=]+)", emb)
    covered: set[int] = set()
    for data in fonts:
        font = TTFont(io.BytesIO(base64.b64decode(data)))
        covered |= set(font.getBestCmap())
        assert len(font.getGlyphOrder()) < 200  # a subset, not the 6,000-glyph font
    assert {ord(ch) for ch in used if ch != " "} <= covered


def test_transparent_background(tmp_path: Path) -> None:
    theme = tmp_path / "clear.json"
    theme.write_text(json.dumps({"background": "transparent"}))
    for style in STYLES:
        d = draw(style, theme=str(theme))
        _, _, rows, _ = decode_png(d.to_bytes("png"))
        assert rows[0][3] == 0  # alpha of the top-left pixel
        root = ET.fromstring(d.to_bytes("svg"))
        assert root.find(SVG_NS + "rect") is None  # no background rect among the children
        assert "\\colorlet" not in d.to_bytes("tex").decode()


def test_css_colour_spellings_reach_pdf_and_tikz(tmp_path: Path) -> None:
    theme = tmp_path / "css.json"
    theme.write_text(json.dumps({"kinds": {"conv": {"fill": "rgb(255, 0, 0)", "stroke": "Navy"},
                                           "pool": {"fill": "#0f08"}}}))
    d = draw("graph", theme=str(theme))
    tex = d.to_bytes("tex").decode()
    assert "{RGB}{255,0,0}" in tex and "{RGB}{0,0,128}" in tex and "{RGB}{0,255,0}" in tex
    assert "\\colorlet" not in tex
    ops = zlib.decompress(d.to_bytes("pdf").split(b"stream\n", 1)[1].split(b"endstream")[0])
    assert b"1 0 0 rg" in ops and b"0 0 0.5 RG" in ops
