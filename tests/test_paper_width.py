"""--width: figures at a paper's column width, in physical units, with the smallest font
size reported and a warning when text would print below 6 pt."""

from __future__ import annotations

import io
import re
import warnings

import pytest
from click.testing import CliRunner
from test_paper import lenet

import nnviz
from nnviz.cli import main
from nnviz.errors import NnvizError
from nnviz.render.physical import parse_length


@pytest.mark.parametrize("text,inches", [("3.3in", 3.3), ("8.382cm", 3.3), ("83.82mm", 3.3),
                                         ("237.6pt", 3.3), ("316.8px", 3.3), (" 6.9 in ", 6.9)])
def test_lengths_in_every_unit(text: str, inches: float) -> None:
    assert parse_length(text) == pytest.approx(inches)


@pytest.mark.parametrize("bad", ["3.3", "wide", "3.3furlongs", "-2in", "0in", "900in"])
def test_bad_lengths_are_one_sentence(bad: str) -> None:
    with pytest.raises(NnvizError, match="--width") as exc:
        parse_length(bad)
    assert "\n" not in str(exc.value)


def test_every_vector_format_has_the_asked_width() -> None:
    d = nnviz.draw(lenet(), style="blocks", theme="paper", width="3.3in")
    ratio = d.layout.height / d.layout.width
    svg = d.to_bytes("svg").decode()
    w, h = re.search(r'<svg [^>]*width="([0-9.]+)in" height="([0-9.]+)in"', svg).groups()
    assert float(w) == pytest.approx(3.3) and float(h) == pytest.approx(3.3 * ratio, rel=0.02)
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF back")
    page = pypdf.PdfReader(io.BytesIO(d.to_bytes("pdf"))).pages[0]
    assert float(page.mediabox.width) == pytest.approx(3.3 * 72, abs=0.01)
    tex = d.to_bytes("tex").decode()
    k = float(re.search(r"\\begin\{tikzpicture\}\[x=([0-9.e-]+)bp", tex).group(1))
    box = re.search(r"\\useasboundingbox \(0,0\) rectangle \(([0-9.]+),", tex).group(1)
    assert k * float(box) == pytest.approx(3.3 * 72, rel=1e-4)
    from PIL import Image

    png = Image.open(io.BytesIO(d.to_bytes("png")))
    assert png.size[0] == pytest.approx(3.3 * 300, abs=2)  # 300 dpi unless --dpi says
    assert png.info["dpi"][0] == pytest.approx(300, abs=0.01)


def test_smallest_font_is_reported_and_warned_below_6pt() -> None:
    # one row asked for (--rows 1): nothing wraps, the text shrinks with the width
    kw = {"style": "blocks", "theme": "paper", "direction": "LR", "rows": 1}
    wide = nnviz.draw(lenet(), width="6.9in", **kw)
    with pytest.warns(UserWarning, match=r"below 6 pt.*--depth N .*--rows N or --direction TB"):
        narrow = nnviz.draw(lenet(), width="2in", **kw)
    # the same drawing scaled: the font shrinks with the width
    assert narrow.smallest_font_pt == pytest.approx(wide.smallest_font_pt * 2 / 6.9, rel=0.01)
    assert wide.smallest_font_pt >= 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # readable: no warning
        nnviz.draw(lenet(), width="6.9in", **kw)
    # without --rows the row wraps as the width needs, and the text stays readable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrapped = nnviz.draw(lenet(), style="blocks", theme="paper", direction="LR",
                             width="2.5in")
    assert len(wrapped.layout.extras["rows"]) > 1 and wrapped.smallest_font_pt >= 6
    scale = wrapped.layout.extras.get("box_scale")
    assert wrapped.flow_note() == f"left to right in {len(wrapped.layout.extras['rows'])} rows" \
        + (f", boxes at {scale:.0%}" if scale else "")


def test_paper_style_at_a_width_takes_the_flow_with_larger_text() -> None:
    """At a column width a row of eight boxes prints its labels at ~4 pt; the same boxes
    wrapped into rows or stacked top to bottom (labels beside them) print readable text:
    without --direction the readable candidate no taller than a page that is shortest wins
    (smaller boxes next to the text only when they make it shorter still)."""
    kw = {"style": "blocks", "theme": "paper", "width": "3.3in"}
    with pytest.warns(UserWarning, match="below 6 pt"):
        row = nnviz.draw(lenet(), direction="LR", rows=1, **kw)
    auto = nnviz.draw(lenet(), **kw)
    assert auto.smallest_font_pt > max(6.0, row.smallest_font_pt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unreadable candidates warn
        candidates = [nnviz.draw(lenet(), direction="TB", **kw)] + \
            [nnviz.draw(lenet(), direction="LR", rows=n, **kw) for n in (1, 2, 3)]
    readable = [c for c in candidates if c.smallest_font_pt >= 7]

    def tall(d) -> float:
        return d.layout.height / d.layout.width * 3.3

    assert readable and tall(auto) <= min(tall(c) for c in readable) + 1e-6
    # without --width the default stays one LR row
    plain = nnviz.draw(lenet(), style="blocks")
    assert plain.layout.direction == "LR" and len(plain.layout.extras["rows"]) == 1


def test_cli_reports_the_smallest_font(tmp_path, examples_dir) -> None:
    out = tmp_path / "mlp.pdf"
    res = CliRunner().invoke(main, [str(examples_dir / "mlp.onnx"), "-o", str(out), "--style",
                                    "neurons", "--theme", "paper", "--width", "8.4cm"])
    assert res.exit_code == 0, res.output
    m = re.search(r"3\.31 in wide, smallest text ([0-9.]+) pt \((left to right|top to "
                  r"bottom)", res.output)
    assert m and 4 < float(m.group(1)) < 12
    res = CliRunner().invoke(main, [str(examples_dir / "mlp.onnx"), "-o", str(out),
                                    "--width", "3.3"])
    assert res.exit_code != 0 and "--width" in res.output


def test_compact_labels_keep_every_word_and_break_before_a_rider() -> None:
    """The fitting's narrower label lines and shorter titles drop no text: "Conv2d" with a
    3×3 kernel reads "Conv 3×3/2" (the kernel gives the rank), a fused rider moves to the
    next line whole ("Linear" over "+ Tanh", not "Linear +" over "Tanh"), and the smaller
    boxes of scale_paper keep the smallest sizes that keep a 7x7 map visible."""
    from nnviz.layout.blocks import wrap
    from nnviz.theme import load_theme, paper_settings, scale_paper

    assert wrap("Linear + Tanh", 11, 72.0, True) == ["Linear", "+ Tanh"]
    assert wrap("MaxPool 3×3/2", 11, 72.0, True) == ["MaxPool", "3×3/2"]
    theme = load_theme("paper")
    small = scale_paper(theme, 0.5, 72.0)
    a, b = paper_settings(theme, "blocks"), paper_settings(small, "blocks")
    assert b["max_height"] == a["max_height"] / 2 and b["min_height"] == a["min_height"]
    assert b["label_wrap"] == 72.0 and scale_paper(theme, 1.0) is theme
    assert paper_settings(small, "neurons")["radius"] == paper_settings(theme, "neurons")[
        "radius"] / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = nnviz.draw(lenet(), style="blocks", theme="paper", direction="LR", width="2.5in")
    titles = [ln.text for box in d.layout.nodes.values() for ln in box.lines
              if ln.style == "title"]
    assert not any("2d" in t for t in titles if "×" in t), titles
    assert any(t.startswith("Conv") for t in titles), titles


def test_compact_labels_keep_as_much_text_as_default_ones() -> None:
    """Narrower label lines come with more of them: a name the default labels print whole
    (three 96 px lines) is not cut short with an ellipsis when the fitting tries 72 px
    lines, and every label says the same text either way."""
    from nnviz.layout import layout
    from nnviz.layout.blocks import wrap
    from nnviz.passes import ViewOptions, prepare
    from nnviz.theme import load_theme, scale_paper

    g = lenet()
    long = "encoder_stage_one/residual_block_zero/conv"
    g.nodes["c2"].name = long
    assert wrap(long, 9, 72.0, max_lines=3)[-1].endswith("…")  # three 72 px lines cut it
    theme = load_theme("paper")
    view = prepare(g, ViewOptions())
    wide = layout(view, theme=theme, style="blocks")
    narrow = layout(view, theme=scale_paper(theme, 1.0, 72.0), style="blocks")
    for nid, box in wide.nodes.items():
        text = "".join(ln.text for ln in box.lines).replace(" ", "")
        assert "…" not in text
        assert "".join(ln.text for ln in narrow.nodes[nid].lines).replace(" ", "") == text
    assert len(narrow.nodes["c2"].lines) > len(wide.nodes["c2"].lines)
