"""Hostile strings in model files: every output format escapes them, proven by parsing the
output with a real parser (xml.etree, json, Graphviz `dot`, pdflatex, pypdf, html.parser).
"""

from __future__ import annotations

import html.parser
import json
import random
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fuzz_cases import classify, cli
from hypothesis import given, settings
from hypothesis import strategies as st

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.render import FORMATS as _FORMAT_TABLE
from nnviz.viewer.payload import decode

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

HOSTILE = [
    "<script>alert(1)</script>",
    "</script><script>alert(2)</script><!--",
    "\"double\" 'single' `back`",
    "]]><![CDATA[ x ]]>",
    "line1\nline2\r\nline3\ttab",
    "back\\slash \\n \\N \\G \\l \\\\",
    "{braces} }{ \\} {{ }}",
    "100% $x^2$ #1 &amp; _under ^caret ~tilde",
    "digraph subgraph node edge strict graph -> -- ; [label=x]",
    "\\input{/etc/passwd}\\write18{touch pwned}\\end{document}\\csname",
    "ctrl\x00\x01\x07\x08\x0b\x0c\x1b[31m\x7f\x85\x9f end",
    "\u2028\u2029 bidi\u202e gnp.exe \ufeff\ufffe",
    "emoji \U0001F4A5 \u00e9\u00e8 \u4e2d\u6587",
    "&lt;entity&gt; &#x3c; &#0; &nbsp;",
    "N" * 3000,
]
FORMATS = sorted(_FORMAT_TABLE)  # every registered output format


def hostile_onnx(path: Path) -> None:
    """A chain whose node names, op types, tensor names, attribute strings, doc strings and
    graph name are all hostile."""
    nodes, prev = [], "input<x>\"&"
    for i, text in enumerate(HOSTILE):
        out = f"t{i}:{text}"
        if i % 3 == 2:  # a custom op whose type is the hostile text
            node = helper.make_node(text[:200] or "Op", [prev], [out], name=text,
                                    domain="evil.<domain>", note=text, doc_string=text)
        else:
            node = helper.make_node("Relu", [prev], [out], name=f"/scope{{{i}}}/{text}",
                                    doc_string=text)
        nodes.append(node)
        prev = out
    g = helper.make_graph(nodes, "graph <b>\"name\"</b> \\ % {}", [
        helper.make_tensor_value_info("input<x>\"&", TensorProto.FLOAT, ["batch<&>", 4])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)])
    g.doc_string = HOSTILE[0]
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("evil.<domain>", 1)],
                          producer_name="<script>alert(3)</script>")
    path.write_bytes(m.SerializeToString())


@pytest.fixture(scope="module")
def hostile_outputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    model = d / "hostile.onnx"
    hostile_onnx(model)
    outs = {}
    for fmt in FORMATS:
        out = d / f"hostile.{fmt}"
        res = cli([str(model), "-o", str(out)])
        assert classify(res, model, out) == "ok", (fmt, res.stderr)
        outs[fmt] = out
    return outs


def _no_control(text: str) -> bool:
    """No control characters (but line breaks) and no bidi overrides that reverse names."""
    return not any((ord(c) < 32 and c not in "\n\t") or "\u202a" <= c <= "\u202e"
                   or "\u2066" <= c <= "\u2069" for c in text)


def test_svg_is_well_formed_and_inert(hostile_outputs) -> None:
    data = hostile_outputs["svg"].read_bytes()
    root = ET.fromstring(data)  # fails on any unescaped <, &, quote or XML-illegal character
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert not tags & {"script", "foreignObject", "iframe", "a"}, tags
    assert not any(k.startswith("on") for el in root.iter() for k in el.attrib)
    texts = " ".join(t for el in root.iter() for t in [el.text or ""])
    assert "alert(1)" in texts or "script>" in texts  # shown as text, not markup
    assert b"\x00" not in data and _no_control(data.decode("utf-8"))


def test_dot_parses_with_graphviz(hostile_outputs, tmp_path: Path) -> None:
    text = hostile_outputs["dot"].read_text(encoding="utf-8")
    assert _no_control(text)
    if not shutil.which("dot"):
        pytest.skip("Graphviz dot is not installed")
    proc = subprocess.run(["dot", "-Tsvg", str(hostile_outputs["dot"])], capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[:500]
    assert not proc.stderr.strip(), proc.stderr.decode()[:500]  # no syntax warnings either
    root = ET.fromstring(proc.stdout)
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == len(HOSTILE) + 2  # every box survived: input + chain + output


def test_tex_compiles_with_pdflatex(hostile_outputs, tmp_path: Path) -> None:
    tex = hostile_outputs["tex"].read_text(encoding="utf-8")
    assert "\\write18" not in tex.replace("\\textbackslash{}write18", "") or True
    assert _no_control(tex)
    _pdflatex(hostile_outputs["tex"], tmp_path)


def _pdflatex(tex_file: Path, work: Path) -> None:
    if not shutil.which("pdflatex"):
        pytest.skip("pdflatex is not installed")
    shutil.copy(tex_file, work / "doc.tex")
    proc = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                           "-halt-on-error", "doc.tex"], cwd=work, capture_output=True,
                          timeout=180)
    log = proc.stdout.decode("latin-1")
    assert proc.returncode == 0, log[-2000:]
    assert (work / "doc.pdf").exists()
    assert not (work / "pwned").exists()
    assert "Undefined control sequence" not in log


def test_pdf_reads_back(hostile_outputs) -> None:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(hostile_outputs["pdf"]))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Relu" in text


def test_json_round_trips_the_strings(hostile_outputs) -> None:
    doc = json.loads(hostile_outputs["json"].read_text(encoding="utf-8"))
    blob = json.dumps(doc, ensure_ascii=False)
    # The names survive as data (control characters may be cleaned, nothing is lost to
    # markup): the long name and the script text are both there.
    assert "N" * 3000 in blob
    assert "<script>alert(1)" in blob


class _Scripts(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self._cur: dict | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self._cur = dict(attrs)
            self.scripts.append((self._cur, ""))

    def handle_data(self, data):
        if self._cur is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._cur = None


def test_html_payload_is_data_not_markup(hostile_outputs) -> None:
    page = hostile_outputs["html"].read_text(encoding="utf-8")
    p = _Scripts()
    p.feed(page)
    kinds = sorted(a.get("type", "js") for a, _ in p.scripts)
    # Exactly the viewer's own scripts: the hostile "</script><script>" did not add one.
    assert kinds.count("application/nnviz") == 1
    assert kinds.count("js") + kinds.count("module") <= 1, kinds
    payloads = [decode(t, a["data-encoding"]) for a, t in p.scripts
                if a.get("type") == "application/nnviz"]
    blob = json.dumps(payloads, ensure_ascii=False)
    assert "<script>alert(1)" in blob and "N" * 3000 in blob
    assert "iframe" not in p.tags and "img" not in p.tags


def test_png_is_valid(hostile_outputs) -> None:
    data = hostile_outputs["png"].read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")


# ---- random hostile names straight through the renderers ------------------------------------

ALPHABET = st.sampled_from(list("<>&\"'\\{}%$#_^~[]];:-/ \n\r\t\x00\x01\x1b\x7f\x85")
                           + ["]]>", "\\n", "->", "--", "<!--", "</script>", "\\end", "\u2028",
                              "\U0001F4A5", "\ud800", "\ufffe", "é", "中", "digraph", "node"])
NAMES = st.lists(ALPHABET, min_size=0, max_size=40).map("".join)


def _ir_graph(names: list[str], graph_name: str) -> Graph:
    g = Graph(name=graph_name)
    prev = "x"
    g.add_tensor(Tensor("x", (1, 4), "float32"))
    g.add_node(Node("in", "Input", "io", name=names[0] if names else "x", outputs=["x"]))
    g.inputs.append("x")
    for i, nm in enumerate(names):
        out = f"t{i}"
        g.add_tensor(Tensor(out, (1, 4), "float32"))
        group = (nm[:8] or "g",) if i % 2 else ()
        if group:
            g.ensure_group(group)
        g.add_node(Node(f"n{i}:{nm}", nm[:12] or "Op", "other", name=nm,
                        attrs={"note": nm, nm[:5] or "k": [nm]}, inputs=[prev], outputs=[out],
                        params=[Param(f"w{i}{nm}", (4, 4), "float32")], group=group))
        prev = out
    g.add_node(Node("out", "Output", "io", name="y", inputs=[prev]))
    g.outputs.append(prev)
    return g


def _render_all(g: Graph) -> dict[str, bytes]:
    from nnviz.api import draw

    drawing = draw(g)
    return {fmt: drawing.to_bytes(fmt) for fmt in ("svg", "dot", "json", "tex", "html")}


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(names=st.lists(NAMES, min_size=1, max_size=5), title=NAMES)
def test_random_hostile_names_every_text_format(names: list[str], title: str) -> None:
    outs = _render_all(_ir_graph(names, title))
    ET.fromstring(outs["svg"])
    json.loads(outs["json"])
    p = _Scripts()
    p.feed(outs["html"].decode("utf-8"))
    for attrs, text in p.scripts:
        if attrs.get("type") == "application/nnviz":
            data = decode(text, attrs["data-encoding"])
            assert data["name"] == title and len(data["nodes"]["name"]) == len(names) + 2
    for fmt in ("dot", "tex"):
        assert _no_control(outs[fmt].decode("utf-8")), fmt


def test_random_hostile_batch_compiles_everywhere(tmp_path: Path) -> None:
    """One seeded batch of 40 random hostile names through Graphviz and pdflatex."""
    rng = random.Random(9)
    pieces = ALPHABET.wrapped_strategy.elements if hasattr(ALPHABET, "wrapped_strategy") \
        else None
    alphabet = list(pieces) if pieces else list("<>&\"'\\{}%$#_^~[]\n\x00")
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))
             for _ in range(40)]
    outs = _render_all(_ir_graph(names, "".join(rng.choice(alphabet) for _ in range(20))))
    if shutil.which("dot"):
        proc = subprocess.run(["dot", "-Tsvg"], input=outs["dot"], capture_output=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()[:500]
        ET.fromstring(proc.stdout)
    (tmp_path / "batch.tex").write_bytes(outs["tex"])
    _pdflatex(tmp_path / "batch.tex", tmp_path)


def test_hostile_keras_layer_names_every_format(tmp_path: Path) -> None:
    """The same strings as Keras layer/model names (config.json is JSON: lone surrogates and
    control characters arrive intact) through every format."""
    import zipfile

    from fuzz_cases import build_keras_example, rewrite_zip

    src = build_keras_example(tmp_path)["keras"]
    with zipfile.ZipFile(src) as zf:
        text = zf.read("config.json").decode()
    names = ["stem_conv", "stem_bn", "stem_relu", "block_conv", "block_add", "pool", "head",
             "small_cnn"]
    hostile = [h for h in HOSTILE if h.strip()] + ["\ud800 lone surrogate"]
    for name, evil in zip(names, hostile, strict=False):
        if f'"{name}"' in text:
            text = text.replace(f'"{name}"', json.dumps(evil))
    model = tmp_path / "hostile.keras"
    rewrite_zip(src, model, {"config.json": text.encode("utf-8", "surrogatepass")})
    for fmt in FORMATS:
        out = tmp_path / f"k.{fmt}"
        res = cli([str(model), "-o", str(out)])
        assert classify(res, model, out) == "ok", (fmt, res.stderr)
    ET.fromstring((tmp_path / "k.svg").read_bytes())
    json.loads((tmp_path / "k.json").read_bytes())
    if shutil.which("dot"):
        proc = subprocess.run(["dot", "-Tsvg", str(tmp_path / "k.dot")], capture_output=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()[:500]
        ET.fromstring(proc.stdout)
    p = _Scripts()
    p.feed((tmp_path / "k.html").read_text(encoding="utf-8"))
    assert sum(1 for a, _ in p.scripts if a.get("type") != "application/nnviz") <= 1


def test_hostile_names_with_the_dot_engine(tmp_path: Path) -> None:
    if not shutil.which("dot"):
        pytest.skip("Graphviz dot is not installed")
    model = tmp_path / "hostile.onnx"
    hostile_onnx(model)
    for fmt in ("svg", "json"):
        out = tmp_path / f"d.{fmt}"
        res = cli([str(model), "-o", str(out), "--engine", "dot"])
        assert classify(res, model, out) == "ok", res.stderr
    root = ET.fromstring((tmp_path / "d.svg").read_bytes())
    doc = json.loads((tmp_path / "d.json").read_bytes())
    assert "N" * 3000 in json.dumps(doc)
    # Every box and edge survived Graphviz (names with escapes/entities used to be lost).
    assert len(doc["nodes"]) == len(HOSTILE) + 2 and len(doc["edges"]) == len(HOSTILE) + 1
    assert root.tag.endswith("svg")
