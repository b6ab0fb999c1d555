"""The interactive HTML viewer: the page data (no browser) and end-to-end in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.layout import layout
from nnviz.render.html import render
from nnviz.theme import load_theme
from nnviz.viewer.payload import full_names, read_page

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "</script><script>alert(1)</script>"
QUOTES = "it's \"quoted\" & <b>bold</b> <!-- x"
NEWLINE = "line one\nline two\u2028sep"
LONG = "very_long_layer_name_" * 30


def small_cnn(name: str = "tiny-cnn", hostile: bool = False) -> Graph:
    """A ResNet-like toy with groups: stem, two residual blocks, a head."""
    g = Graph(name=name, meta={"framework": "test"})

    def t(tid: str, shape: tuple, dtype: str = "float32") -> str:
        g.add_tensor(Tensor(tid, shape, dtype))
        return tid

    x = t("image", (1, 3, 32, 32))
    g.add_node(Node("image", "Input", "io", "image", outputs=[x]))
    g.inputs = [x]

    def op(nid: str, op_: str, kind: str, group: tuple, ins: list, shape: tuple,
           params: list | None = None, name: str | None = None, **attrs) -> str:
        out = t(nid + ":0", shape)
        g.ensure_group(group)
        g.add_node(Node(nid, op_, kind, name or nid, attrs, ins, [out], params or [], group,
                        {"flops": 1000}))
        return out

    h = op("stem.conv", "Conv", "conv", ("stem",), [x], (1, 16, 32, 32),
           [Param("stem.conv.weight", (16, 3, 3, 3), "float32")], kernel_shape=[3, 3])
    h = op("stem.bn", "BatchNormalization", "norm", ("stem",), [h], (1, 16, 32, 32),
           [Param("stem.bn.weight", (16,), "float32")])
    h = op("stem.relu", "Relu", "activation", ("stem",), [h], (1, 16, 32, 32))
    for b in range(2):
        grp = ("blocks", f"block{b}")
        a = op(f"block{b}.conv1", "Conv", "conv", grp, [h], (1, 16, 32, 32),
               [Param(f"block{b}.conv1.weight", (16, 16, 3, 3), "float32")])
        a = op(f"block{b}.relu", "Relu", "activation", grp, [a], (1, 16, 32, 32),
               name=(HOSTILE if hostile and b == 0 else None))
        a = op(f"block{b}.conv2", "Conv", "conv", grp, [a], (1, 16, 32, 32),
               [Param(f"block{b}.conv2.weight", (16, 16, 3, 3), "float32")],
               name=(QUOTES if hostile and b == 0 else None))
        h = op(f"block{b}.add", "Add", "elementwise", grp, [a, h], (1, 16, 32, 32),
               name=(NEWLINE if hostile and b == 1 else None))
    h = op("head.pool", "GlobalAveragePool", "pool", ("head",), [h], (1, 16, 1, 1),
           name=(LONG if hostile else None))
    h = op("head.fc", "Gemm", "linear", ("head",), [h], (1, 10),
           [Param("head.fc.weight", (10, 16), "float32"), Param("head.fc.bias", (10,), "float32")])
    g.add_node(Node("logits", "Output", "io", "logits", inputs=[h]))
    g.outputs = [h]
    if hostile:
        g.groups[("head",)].label = "<img src=x onerror=alert(2)>"
        g.groups[("head",)].op = HOSTILE
    return g


def page_for(graph: Graph, **options) -> str:
    theme = load_theme()
    return render(graph, layout(graph, theme=theme), theme, **options)


def page_data(page: str) -> dict:
    """The page data, decoded the way the page's script decodes it (nnviz.viewer.payload)."""
    return read_page(page)


# ---- the page, no browser -----------------------------------------------------------------------

def test_hostile_names_cannot_escape_the_data_block():
    page = page_for(small_cnn(hostile=True))
    assert HOSTILE not in page
    assert "<!--" not in page.split("</style>", 1)[1]  # only in CSS comments, if anywhere
    assert "\u2028" not in page and "\u2029" not in page
    # Exactly the two scripts of the template: data and code.
    assert page.count("<script") == 2 and page.count("</script>") == 2
    data = page_data(page)
    names = set(data["nodes"]["name"])
    assert {HOSTILE, QUOTES, NEWLINE, LONG} <= names


def test_page_is_self_contained_with_a_strict_csp():
    page = page_for(small_cnn())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    script = re.search(r"<script>(.*)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|eval\(|new Function", script)
    assert "@font-face" in page  # the shipped DejaVu, subset and inlined


def test_byte_identical_across_runs_and_processes():
    graph = small_cnn(hostile=True)
    first = page_for(graph)
    assert page_for(small_cnn(hostile=True)) == first
    code = (
        f"import sys, hashlib; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_html import small_cnn, page_for\n"
        "print(hashlib.sha256(page_for(small_cnn(hostile=True)).encode()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == hashlib.sha256(first.encode()).hexdigest()


@pytest.mark.parametrize("inline", [1, 12])
def test_views_cover_every_node_once_and_data_is_linear(inline):
    graph = small_cnn()
    data = page_data(page_for(graph, inline=inline))
    seen: list[int] = []
    for view in data["views"]:
        box = view["box"]
        n = len(box["type"])
        assert all(len(box[k]) == n for k in ("ref", "x", "y", "w", "h"))
        seen += [r for ty, r in zip(box["type"], box["ref"]) if ty == 0]
        # Edges point at boxes of the same view.
        assert all(0 <= i < n for i in view["edge"]["src"] + view["edge"]["dst"])
    assert sorted(seen) == list(range(len(graph.nodes)))
    # Each group is one box in its parent's view, or drawn open (a frame) in an ancestor's.
    group_boxes = [r for v in data["views"] for ty, r in zip(v["box"]["type"], v["box"]["ref"])
                   if ty == 1]
    frames = [g for v in data["views"] for g in v["frame"]["group"]]
    assert len(group_boxes) == len(set(group_boxes))
    assert sorted(set(group_boxes) | set(frames)) == list(range(1, len(data["groups"])))
    if inline == 1:
        assert not frames
    else:  # a 14-node model is drawn all open
        assert not group_boxes and len(data["views"][0]["box"]["type"]) == len(graph.nodes)


def test_jupyter_output_is_a_sandboxed_iframe():
    graph = small_cnn()
    frame = page_for(graph, jupyter=True)
    assert frame.startswith("<iframe srcdoc=")
    assert 'sandbox="allow-scripts allow-downloads"' in frame
    assert "<script" not in frame  # all of it escaped inside srcdoc


# ---- end to end in Chromium --------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "bench"))
from viewer_browser import browser_page, chromium_path  # noqa: E402


@pytest.fixture(scope="module")
def browser_ok():
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    if chromium_path() is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return True


@pytest.fixture()
def viewer(tmp_path, browser_ok):
    def open_page(graph: Graph, **options):
        # inline=1: every group of 2+ nodes gets its own view (drill-down), unless a test
        # asks for the default (small groups drawn open in a frame).
        options.setdefault("inline", 1)
        path = tmp_path / "net.html"
        path.write_text(page_for(graph, **options), encoding="utf-8")
        ctx = browser_page()
        page = ctx.__enter__()
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("html[data-ready]", timeout=30000)
        opened.append(ctx)
        return page

    opened: list = []
    yield open_page
    for ctx in opened:
        ctx.__exit__(None, None, None)


def canvas_colours(page) -> int:
    return page.evaluate("""() => {
        const c = document.getElementById('canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
        return seen.size;
    }""")


def test_opens_without_errors_and_draws(viewer, tmp_path):
    page = viewer(small_cnn())
    assert page.console_errors == []
    assert canvas_colours(page) > 8, "the canvas is blank"
    shot = tmp_path / "shot.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5000
    state = page.evaluate("nnviz.state()")
    assert state["view"] == 0 and state["boxes"] == 5  # image, stem, blocks, head, logits


def test_search_selects_and_opens_enclosing_groups(viewer):
    page = viewer(small_cnn())
    page.click("#search")
    page.keyboard.type("block1.conv2")
    page.wait_for_selector("#results li[role=option]")
    assert "block1.conv2" in page.inner_text("#results")
    page.keyboard.press("Enter")
    state = page.evaluate("nnviz.state()")
    assert state["selection"]["name"] == "block1.conv2"
    assert state["path"] == ["blocks", "block1"]
    details = page.inner_text("#details")
    assert "Conv" in details and "(1, 16, 32, 32)" in details and "(16, 16, 3, 3)" in details
    assert "2,304" in details  # parameter count of the 16x16x3x3 weight
    assert page.console_errors == []


def test_open_and_close_a_group_with_the_mouse(viewer):
    page = viewer(small_cnn())
    gi = page.evaluate("nnviz.search('stem').find(r => r.type === 'group').index")
    r = page.evaluate(f"nnviz.boxScreenRect('group', {gi})")
    page.mouse.dblclick(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for_function("() => nnviz.state().path.join('/') === 'stem'")
    assert page.inner_text("#crumbs").split() == ["top", "\u203a", "stem"]
    page.click("#btn-up")
    state = page.evaluate("nnviz.state()")
    assert state["path"] == [] and state["selection"]["name"] == "stem"


def test_click_node_shows_shapes_and_tensor_highlight(viewer):
    page = viewer(small_cnn())
    page.evaluate("nnviz.openGroup(nnviz.search('stem').find(r => r.type === 'group').index)")
    ni = page.evaluate("nnviz.search('stem.bn').find(r => r.type === 'node').index")
    r = page.evaluate(f"nnviz.boxScreenRect('node', {ni})")
    page.mouse.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for_selector("#panel:not([hidden])")
    details = page.inner_text("#details")
    assert "BatchNormalization" in details and "stem.conv:0" in details
    assert details.count("(1, 16, 32, 32)") >= 2 and "float32" in details
    # Clicking a tensor highlights its producer and consumers.
    page.click("#details .tensor >> text=stem.bn:0")
    state = page.evaluate("nnviz.state()")
    assert state["selection"] == {"type": "tensor", "index": state["selection"]["index"],
                                  "name": "stem.bn:0"}
    assert "stem.relu" in page.inner_text("#details")
    assert page.console_errors == []


def test_hostile_names_are_text_and_no_dialog_opens(viewer):
    page = viewer(small_cnn(hostile=True))
    for name in (HOSTILE, QUOTES, LONG):
        hit = page.evaluate("q => nnviz.search(q).find(r => r.type === 'node')", name[:40])
        page.evaluate(f"nnviz.gotoNode({hit['index']})")
        assert name in page.text_content("#details")
        page.click("#search")
        page.fill("#search", name[:30])
        page.wait_for_selector("#results li[role=option]")
        page.keyboard.press("Escape")
    gi = page.evaluate("nnviz.search('<img').find(r => r.type === 'group').index")
    page.evaluate(f"nnviz.openGroup({gi})")
    assert "<img src=x onerror=alert(2)>" in page.text_content("#crumbs")
    page.evaluate(f"nnviz.gotoGroup({gi})")
    assert HOSTILE in page.text_content("#details")
    hit = page.evaluate("nnviz.search('line one').find(r => r.type === 'node')")
    page.evaluate(f"nnviz.gotoNode({hit['index']})")
    assert NEWLINE in page.text_content("#details")
    page.wait_for_timeout(200)
    assert page.dialogs == []
    assert page.console_errors == []
    assert page.evaluate("document.querySelectorAll('script').length") == 2
    assert page.evaluate("document.querySelectorAll('b, img').length") == 0


def test_hash_restores_view_and_selection(viewer):
    page = viewer(small_cnn())
    ni = page.evaluate("nnviz.search('block0.relu').find(r => r.type === 'node').index")
    page.evaluate(f"nnviz.gotoNode({ni})")
    page.wait_for_function("() => location.hash.includes('n=')")
    url = page.evaluate("location.href")
    other = page.context.browser.new_page()  # a fresh page opening the shared link
    other.goto(url)
    other.wait_for_selector("html[data-ready]", timeout=30000)
    state = other.evaluate("nnviz.state()")
    assert state["selection"]["name"] == "block0.relu"
    assert state["path"] == ["blocks", "block0"]


def test_export_svg_and_png_and_theme_toggle(viewer):
    page = viewer(small_cnn())
    with page.expect_download() as dl:
        page.click("#btn-svg")
    svg = Path(dl.value.path()).read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "stem" in svg
    with page.expect_download() as dl:
        page.click("#btn-png")
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = page.evaluate("nnviz.state().theme")
    page.keyboard.press("t")
    after = page.evaluate("nnviz.state().theme")
    assert before != after and after == "dark"
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg != "rgb(255, 255, 255)"
    assert page.console_errors == []


def test_two_viewers_in_one_notebook_page(tmp_path, browser_ok):
    frames = page_for(small_cnn("first"), jupyter=True) + page_for(small_cnn("second"),
                                                                    jupyter=True)
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><html><body>{frames}</body></html>", encoding="utf-8")
    with browser_page() as page:
        page.goto(path.resolve().as_uri())
        for i in (1, 2):
            frame = page.frames[i]
            frame.wait_for_selector("html[data-ready]", timeout=30000)
        names = sorted(f.inner_text("#model-name") for f in page.frames[1:])
        assert names == ["first", "second"]
        assert page.console_errors == []


def test_repeated_blocks_reuse_geometry_with_their_own_names():
    sys.path.insert(0, str(ROOT / "bench"))
    from viewer_model import transformer

    data = page_data(page_for(transformer(layers=4)))
    labels = [g["label"] for g in data["groups"]]
    a = data["views"][labels.index("layers.2")]
    b = data["views"][labels.index("layers.3")]
    assert a["box"]["x"] == b["box"]["x"] and a["edge"]["delta"] == b["edge"]["delta"]
    assert a["box"]["ref"] != b["box"]["ref"]  # ... but their own nodes and proxies


def test_high_fan_out_stubs_refer_to_their_source():
    g = Graph(name="fanout")
    g.add_tensor(Tensor("x", (4,)))
    g.add_tensor(Tensor("mask", (4,)))
    g.add_node(Node("x", "Input", "io", "x", outputs=["x"]))
    g.add_node(Node("mask", "Input", "io", "mask", outputs=["mask"]))
    prev = "x"
    for i in range(12):
        g.add_tensor(Tensor(f"h{i}", (4,)))
        g.add_node(Node(f"add{i}", "Add", "elementwise", f"add{i}", inputs=[prev, "mask"],
                        outputs=[f"h{i}"]))
        prev = f"h{i}"
    view = page_data(page_for(g))["views"][0]
    types, refs = view["box"]["type"], view["box"]["ref"]
    real = sorted(r for t, r in zip(types, refs) if t == 0)
    assert real == list(range(len(g.nodes)))
    # The shared mask read by twelve far consumers is drawn as stubs: were none drawn, the
    # check below would pass on nothing.
    assert 4 in types, types
    for t, r in zip(types, refs):
        if t == 4:  # a stub: its ref is the mask's box in the same view
            assert types[r] == 0 and refs[r] == list(g.nodes).index("mask")


def test_edge_cases_render():
    assert "nnviz-data" in page_for(Graph(name="empty"))
    g = Graph(name="cycle")
    for t in "abc":
        g.add_tensor(Tensor(t, (1,)))
    g.ensure_group(("x",))
    g.add_node(Node("A", "Add", "elementwise", "A", inputs=["c"], outputs=["a"], group=("x",)))
    g.add_node(Node("B", "Relu", "activation", "B", inputs=["a"], outputs=["b"], group=("x",)))
    g.add_node(Node("C", "Mul", "elementwise", "C", inputs=["b", "missing"], outputs=["c"]))
    data = page_data(page_for(g))
    assert len(data["views"]) == 2 and data["tensors"]["id"].count("missing") == 1


def test_small_groups_drawn_open_in_frames(viewer):
    page = viewer(small_cnn(), inline=12)
    state = page.evaluate("nnviz.state()")
    assert state["view"] == 0 and state["boxes"] == len(small_cnn().nodes)
    gi = page.evaluate("nnviz.search('block1').find(r => r.type === 'group').index")
    page.evaluate(f"nnviz.gotoGroup({gi})")
    assert page.evaluate("nnviz.state().selection.name") == "block1"
    assert "Drawn open" in page.inner_text("#details")
    ni = page.evaluate("nnviz.search('block1.relu').find(r => r.type === 'node').index")
    r = page.evaluate(f"nnviz.boxScreenRect('node', {ni})")
    # Just left of the box (6 px of the drawing at the page's zoom: the frame's padding is
    # about 12), inside the block1 frame: selects the group.
    scale = page.evaluate("nnviz.state().scale")
    page.mouse.click(r["x"] - 6 * scale, r["y"] + r["h"] / 2)
    selection = page.evaluate("nnviz.state().selection")
    assert selection == {"type": "group", "index": gi, "name": "block1"}
    # the page decodes each frame title's patch (x, width) as Python packed it
    frame = page_data(page_for(small_cnn(), inline=12))["views"][0]["frame"]
    got = page.evaluate("nnviz.viewData(0)")
    assert frame["group"] and (got["titleX"], got["titleW"]) == (frame["tx"], frame["tw"])
    assert page.console_errors == []


# ---- the page data on the wire (nnviz.viewer.payload) --------------------------------------------

def _box_in_view(data: dict, view: int, node: int) -> int:
    """Index of the box standing for ``node`` in ``view``: its own, or its enclosing group's."""
    groups, home = data["groups"], data["nodes"]["group"][node]
    box = data["views"][view]["box"]
    if home == view:
        want = (0, node)
    else:
        g = home
        while groups[g]["parent"] != view:
            g = groups[g]["parent"]
            assert g >= 0, (view, node)
        want = (1, g)
    return list(zip(box["type"], box["ref"])).index(want)


def _ancestors(data: dict, g: int) -> list[int]:
    out = []
    while g >= 0:
        out.append(g)
        g = data["groups"][g]["parent"]
    return out


@pytest.mark.parametrize("inline", [1, 12])
def test_payload_holds_every_node_and_edge_of_the_model(inline):
    from viewer_model import transformer

    graph = transformer(layers=3)
    data = page_data(page_for(graph, inline=inline))
    ids = list(graph.nodes)
    names, tensors = full_names(data)
    assert names == [n.name for n in graph.nodes.values()]
    assert [data["ops"][k] for k in data["nodes"]["op"]] == [n.op for n in graph.nodes.values()]
    tid = {t: i for i, t in enumerate(tensors)}
    for i, node in enumerate(graph.nodes.values()):
        assert [tensors[t] for t in data["nodes"]["inputs"][i]] == node.inputs
        assert [tensors[t] for t in data["nodes"]["outputs"][i]] == node.outputs
    # every node is one real box in exactly one view
    real = sorted(r for v in data["views"] for t, r in zip(v["box"]["type"], v["box"]["ref"])
                  if t == 0)
    assert real == list(range(len(ids)))
    # every producer -> consumer edge is drawn in the innermost view holding both ends,
    # between the boxes standing for them (from a reference stub of the producer's box when
    # the layout drew a high-fan-out input as stubs)
    producer = dict(zip(tensors, data["tensors"]["producer"]))
    checked = 0
    for c, node in enumerate(graph.nodes.values()):
        for t in node.inputs:
            p = producer[t]
            if p < 0 or p == c:
                continue
            up = _ancestors(data, data["nodes"]["group"][p])
            lca = next(g for g in _ancestors(data, data["nodes"]["group"][c]) if g in up)
            view = data["views"][lca]
            bp, bc = _box_in_view(data, lca, p), _box_in_view(data, lca, c)
            if bp == bc:
                continue
            types, refs = view["box"]["type"], view["box"]["ref"]
            pairs = {(refs[s] if types[s] == 4 else s, d)
                     for s, d in zip(view["edge"]["src"], view["edge"]["dst"])}
            assert (bp, bc) in pairs, (ids[p], ids[c], t)
            assert tid[t] in view["edge"]["tensor"] or types[bp] != 0 or types[bc] != 0
            checked += 1
    assert checked > len(ids) // 2


def test_payload_round_trips_and_is_compact():
    from viewer_model import transformer

    from nnviz.viewer.page import pack_page
    from nnviz.viewer.payload import compact, decode, encode

    graph = transformer(layers=12)
    theme = load_theme()
    data = pack_page(graph, layout(graph, theme=theme), theme, "layered", "TB")
    logical = json.loads(json.dumps(data, default=str))
    for compress in (True, False):
        assert decode(*reversed(encode(data, compress))) == logical
    # identical blocks share their geometry: 12 layers, one stored layout per distinct view
    head, _ = compact(data)
    owners = sum(1 for v in head["views"] if "s" not in v)
    assert owners * 8 < len(head["views"]), (owners, len(head["views"]))
    # The 50k-node bench model takes 26 bytes of page data per node; uncompressed JSON about
    # 270. A broken compaction or compression fails this (about 26 per node here too).
    text = encode(data)[1]
    assert len(text) < 40 * len(graph.nodes), len(text) / len(graph.nodes)
    assert len(encode(data, compress=False)[1]) > 5 * len(text)


def test_string_tables_hold_each_string_once_in_first_seen_order():
    """The page's ops, kinds, shapes and dtypes and the wire's box text lines are all string
    tables of one interner: each distinct string once, numbered by first use (deterministic
    bytes), a missing dtype or shape is -1, and every reference resolves to its string."""
    from viewer_model import transformer

    from nnviz.viewer.page import pack_page
    from nnviz.viewer.payload import compact

    graph = transformer(layers=3)
    graph.tensors[next(iter(graph.tensors))].dtype = None
    theme = load_theme()
    data = pack_page(graph, layout(graph, theme=theme), theme, "layered", "TB")
    nodes = list(graph.nodes.values())
    for table, refs, want in (("ops", data["nodes"]["op"], [n.op for n in nodes]),
                              ("kinds", data["nodes"]["kind"], [n.kind for n in nodes])):
        assert data[table] == list(dict.fromkeys(want)), table
        assert [data[table][i] for i in refs] == want, table
    assert len(set(data["shapes"])) == len(data["shapes"])
    assert None not in data["dtypes"] and -1 in data["tensors"]["dtype"]
    head, _ = compact(data)
    assert len(set(head["texts"])) == len(head["texts"]) > 10


@pytest.mark.parametrize("compress", [True, False])
def test_page_decodes_like_python(viewer, compress):
    from viewer_model import transformer

    graph = transformer(layers=3)
    data = page_data(page_for(graph, inline=1, compress=compress))
    page = viewer(graph, compress=compress)
    assert page.evaluate("nnviz.views().length") == len(data["views"])
    for vi, v in enumerate(data["views"]):
        got = page.evaluate(f"nnviz.viewData({vi})")
        box, edge = v["box"], v["edge"]
        for k in ("type", "ref", "x", "y", "w", "h"):
            assert got[k] == box[k], (vi, k)
        assert (got["src"], got["dst"], got["tensor"]) == (edge["src"], edge["dst"],
                                                            edge["tensor"])
        pts, at = [], 0
        for c in edge["count"]:
            x = y = 0
            for _ in range(c):
                x, y = x + edge["delta"][at], y + edge["delta"][at + 1]
                pts += [x, y]
                at += 2
        assert got["points"] == pts and got["frames"] == v["frame"]["group"], vi
        assert got["frameX"] == v["frame"]["x"] and got["frameLabels"] == v["frame"]["label"]
        assert (got["titleX"], got["titleW"]) == (v["frame"]["tx"], v["frame"]["tw"]), vi
        assert got["lines"] == v["lines"], vi
    assert page.console_errors == []


def test_without_decompression_stream_the_page_says_so(tmp_path, browser_ok):
    path = tmp_path / "net.html"
    path.write_text(page_for(small_cnn()), encoding="utf-8")
    with browser_page() as page:
        page.add_init_script("delete window.DecompressionStream")
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("html[data-error]", timeout=30000)
        assert "DecompressionStream" in page.inner_text("#status")
        assert "compress=False" in page.inner_text("#status")
    path.write_text(page_for(small_cnn(), compress=False), encoding="utf-8")
    with browser_page() as page:  # ... and the uncompressed page opens there
        page.add_init_script("delete window.DecompressionStream")
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("html[data-ready]", timeout=30000)
        assert page.evaluate("nnviz.state().boxes") == len(small_cnn().nodes)
        assert page.console_errors == []
