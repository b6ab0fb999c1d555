"""The ``dot`` engine: Graphviz lays out the graph with nnviz's own box sizes.

The graph goes to the ``dot`` binary as DOT text with fixed-size boxes (the sizes our SVG
renderer will draw, from the shipped font metrics) and groups as clusters; positions, edge
splines and cluster boxes come back as ``-Tjson`` and become an ordinary :class:`Layout`, so
every renderer draws it like one of ours.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from nnviz.errors import NnvizError
from nnviz.escape import quote
from nnviz.ir import Graph
from nnviz.layout.labels import box_size, fit_lines, node_lines
from nnviz.layout.model import EdgePath, GroupFrame, Layout, NodeBox
from nnviz.theme import Theme

PT = 72.0  # Graphviz inches -> points (= our px)


def dot_binary() -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise NnvizError("the 'dot' engine needs the Graphviz program 'dot', which is not "
                         "installed; install Graphviz (e.g. apt-get install graphviz) or use "
                         "--engine layered")
    return exe


def _dot_names(graph: Graph) -> dict[str, str]:
    """Node id -> a plain DOT name (n0, n1, ...). Graphviz rewrites names with escapes,
    entities or control characters, so mapping its output back by the real ids lost boxes."""
    return {nid: f"n{i}" for i, nid in enumerate(graph.nodes)}


def graph_to_sized_dot(graph: Graph, theme: Theme, direction: str = "TB",
                       clusters: bool = True) -> tuple[str, dict[str, tuple[float, float]]]:
    """DOT text with fixed box sizes (px) and nested clusters for groups; returns the sizes."""
    sp = theme["spacing"]
    sizes: dict[str, tuple[float, float]] = {}
    key = _dot_names(graph)
    head = [
        "digraph G {",
        f"  graph [rankdir={direction}, nodesep={sp['node_sep'] / PT:.4f}, "
        f"ranksep={sp['rank_sep'] / PT:.4f}, fontsize={theme['group']['label_size']}];",
        '  node [shape=box, fixedsize=true, label=""];',
    ]
    body: list[str] = []
    tree: dict[tuple[str, ...], list[str]] = {}
    for node in graph.nodes.values():
        w, h = box_size(fit_lines(node_lines(graph, node), theme), theme)
        sizes[node.id] = (w, h)
        decl = f"{quote(key[node.id])} [width={w / PT:.4f}, height={h / PT:.4f}];"
        if clusters and node.group:
            tree.setdefault(node.group, []).append(decl)
        else:
            body.append("  " + decl)
    if tree:
        paths = set()
        for g in tree:
            for i in range(1, len(g) + 1):
                paths.add(g[:i])
        children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for p in sorted(paths):
            children.setdefault(p[:-1], []).append(p)
        ids = {p: i for i, p in enumerate(sorted(paths))}

        def emit(p: tuple[str, ...], depth: int) -> None:
            ind = "  " * depth
            grp = graph.groups.get(p)
            label = grp.label if grp is not None and grp.label else p[-1]
            body.append(f"{ind}subgraph cluster_{ids[p]} {{ label={quote(label)};")
            for decl in tree.get(p, ()):
                body.append(f"{ind}  {decl}")
            for c in children.get(p, ()):
                emit(c, depth + 1)
            body.append(f"{ind}}}")

        for top in children.get((), ()):
            emit(top, 1)
    for e in graph.edges():
        body.append(f"  {quote(key[e.src])} -> {quote(key[e.dst])};")
    return "\n".join(head + body + ["}"]) + "\n", sizes


def run_dot(text: str, timeout: float | None = None, fmt: str = "json") -> str:
    exe = dot_binary()
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=text, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise NnvizError(f"Graphviz dot did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        msg = (proc.stderr or "").strip().splitlines()
        why = msg[-1] if msg else f"exit status {proc.returncode}"
        raise NnvizError(f"Graphviz dot failed: {why}")
    return proc.stdout


def _pairs(text: str) -> list[tuple[float, float]]:
    out = []
    for tok in text.split():
        x, y = tok.split(",")[-2:]
        out.append((float(x), float(y)))
    return out


def layout_dot(graph: Graph, theme: Theme, direction: str = "TB",
               timeout: float | None = None, clusters: bool = True) -> Layout:
    """Lay out ``graph`` with Graphviz dot; the result renders like a layered layout."""
    text, sizes = graph_to_sized_dot(graph, theme, direction, clusters)
    data = json.loads(run_dot(text, timeout))
    llx, lly, urx, ury = (float(v) for v in data["bb"].split(","))
    margin = float(theme["spacing"]["margin"])

    def fx(x: float) -> float:
        return round(x - llx + margin, 2) + 0.0

    def fy(y: float) -> float:
        return round(ury - y + margin, 2) + 0.0

    names: dict[int, str] = {}
    boxes: dict[str, NodeBox] = {}
    frames: list[GroupFrame] = []
    cluster_paths = {}
    for node in graph.nodes.values():
        if node.group:
            for i in range(1, len(node.group) + 1):
                cluster_paths.setdefault(node.group[:i], None)
    by_index = {i: p for i, p in enumerate(sorted(cluster_paths))}
    lines = {nid: fit_lines(node_lines(graph, graph.nodes[nid]), theme) for nid in sizes}
    back = {v: k for k, v in _dot_names(graph).items()}
    for obj in data.get("objects", []):
        name = obj.get("name", "")
        name = back.get(name, name)
        if "bb" in obj and name.startswith("cluster_"):
            path = by_index.get(int(name.split("_", 1)[1]))
            if path is None:
                continue
            x0, y0, x1, y1 = (float(v) for v in obj["bb"].split(","))
            grp = graph.groups.get(path)
            label = grp.label if grp is not None and grp.label else path[-1]
            frames.append(GroupFrame(path, label, fx(x0), fy(y1), round(x1 - x0, 2),
                                     round(y1 - y0, 2)))
        elif "pos" in obj and name in sizes:
            names[obj["_gvid"]] = name
            x, y = (float(v) for v in obj["pos"].split(","))
            w, h = sizes[name]
            boxes[name] = NodeBox(name, round(fx(x) - w / 2, 2), round(fy(y) - h / 2, 2), w, h,
                                  lines[name])
    ordered = {nid: boxes[nid] for nid in graph.nodes if nid in boxes}
    edges_out: list[EdgePath] = []
    # dot does not keep edge order; match its edges to ours by (tail, head), in order
    queue: dict[tuple[str, str], list] = {}
    for ge in graph.edges():
        queue.setdefault((ge.src, ge.dst), []).append(ge)
    for e in data.get("edges", []):
        key = (names.get(e.get("tail", -1), ""), names.get(e.get("head", -1), ""))
        if "pos" not in e or not queue.get(key):
            continue
        ge = queue[key].pop(0)
        parts = e["pos"].split()
        end = None
        start = None
        rest = []
        for tok in parts:
            if tok.startswith("e,"):
                end = _pairs(tok[2:])[0]
            elif tok.startswith("s,"):
                start = _pairs(tok[2:])[0]
            else:
                rest.append(tok)
        ctrl = _pairs(" ".join(rest))
        if start is not None and ctrl:  # arrow at the tail: draw from the tail point too
            a, b = start, ctrl[0]
            ctrl = [a, (a[0] + (b[0] - a[0]) / 3, a[1] + (b[1] - a[1]) / 3),
                    (a[0] + 2 * (b[0] - a[0]) / 3, a[1] + 2 * (b[1] - a[1]) / 3)] + ctrl
        if end is not None and ctrl:
            a, b = ctrl[-1], end
            ctrl += [(a[0] + (b[0] - a[0]) / 3, a[1] + (b[1] - a[1]) / 3),
                     (a[0] + 2 * (b[0] - a[0]) / 3, a[1] + 2 * (b[1] - a[1]) / 3), b]
        pts = [(fx(x), fy(y)) for x, y in ctrl]
        spline = len(pts) >= 4 and (len(pts) - 1) % 3 == 0
        edges_out.append(EdgePath(ge.src, ge.dst, ge.tensor, pts, spline=spline))
    frames.sort(key=lambda f: (len(f.path), f.path))
    return Layout(width=round(urx - llx + 2 * margin, 2), height=round(ury - lly + 2 * margin, 2),
                  nodes=ordered, edges=edges_out, groups=frames, direction=direction,
                  engine="dot")
