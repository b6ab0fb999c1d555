"""The layered engine: compound (group-by-group) Sugiyama layout of an nnviz Graph.

Groups are laid out bottom-up (DESIGN.md "Hierarchy first"): every framed group is one flat
sub-problem (``level.solve_level``) whose items are its own nodes and its already laid-out
child groups; edges crossing a frame pass through ports on its top/bottom border. Identical
sub-problems (the 48 blocks of a transformer) are solved once and reused. High-fan-out
auxiliary inputs become stubs (``aux``). The result is computed in TB space and rotated at
the end for LR/BT/RL, then edges are smoothed into splines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat

from nnviz.ir import Graph
from nnviz.layout.labels import box_size, fit_lines, font_size, node_lines
from nnviz.layout.layered.aux import find_aux_edges
from nnviz.layout.layered.level import LevelInput, LevelResult, solve_level
from nnviz.layout.layered.progress import LayoutProgress
from nnviz.layout.layered.routing import finish
from nnviz.layout.model import EdgePath, GroupFrame, LabelLine, Layout, NodeBox
from nnviz.text import _metrics as text_metrics
from nnviz.text import line_height, text_width, truncate
from nnviz.theme import Theme

# Phase start times of the last call, for the benchmark's breakdown (not part of the output).
LAST_TIMINGS: dict[str, float] = {}

WIDTH_GRID = 8.0  # px

Key = tuple  # ("n", node_id) | ("g", path) | ("s", src_id, dst_id)


@dataclass
class _Level:
    path: tuple[str, ...]
    items: list[Key] = field(default_factory=list)
    order_key: list[float] = field(default_factory=list)
    index: dict[Key, int] = field(default_factory=dict)
    in_ports: dict[str, int] = field(default_factory=dict)
    out_ports: dict[str, int] = field(default_factory=dict)
    edges: dict[tuple, int] = field(default_factory=dict)
    edge_refs: list[tuple] = field(default_factory=list)
    result: LevelResult | None = None

    def add_item(self, key: Key, order: float) -> None:
        if key not in self.index:
            self.index[key] = -1
            self.items.append(key)
            self.order_key.append(order)

    def edge(self, src: tuple, dst: tuple) -> int:
        k = (src, dst)
        i = self.edges.get(k)
        if i is None:
            i = self.edges[k] = len(self.edge_refs)
            self.edge_refs.append(k)
            for ref, ports in ((src, self.in_ports), (dst, self.out_ports)):
                if ref[0] == "port":
                    ports.setdefault(ref[1], len(ports))
        return i


def _framed_groups(graph: Graph) -> tuple[set[tuple[str, ...]], dict[tuple[str, ...], int]]:
    """Groups drawn as frames: >= 2 nodes, and not just a wrapper around one child group."""
    counts: dict[tuple[str, ...], int] = {}
    for node in graph.nodes.values():
        g = node.group
        for i in range(1, len(g) + 1):
            p = g[:i]
            counts[p] = counts.get(p, 0) + 1
    framed = {p for p, c in counts.items() if c >= 2}
    # a group whose nodes all sit in one child group would only add a frame around a frame
    for p, c in counts.items():
        if len(p) > 1 and c == counts[p[:-1]]:
            framed.discard(p[:-1])
    return framed, counts


def _line_measurer(theme: Theme) -> Callable[[LabelLine], tuple[LabelLine, float]]:
    """(fitted line, box width for it alone), equal to labels.fit_lines + box_size.

    The same arithmetic as text.text_width (sum of advance units * size / units-per-em) with
    a per-character table, about 3x faster on 50k unique names; lines too wide for a box go
    through labels.fit_lines itself.
    """
    metrics = text_metrics()
    faces = {}
    for bold in (False, True):
        face = metrics["bold" if bold else "regular"]
        faces[bold] = ({chr(k): v for k, v in face["widths"].items()}, face["default"],
                       face["units_per_em"])
    node_t = theme["node"]
    max_text = node_t["max_width"] - 2 * node_t["padding_x"]
    min_w, pad_x = node_t["min_width"], 2 * node_t["padding_x"]

    def measure(ln: LabelLine) -> tuple[LabelLine, float]:
        bold = ln.style == "title"
        cw, default, upem = faces[bold]
        width = sum(map(cw.get, ln.text, repeat(default))) * font_size(theme, ln.style) / upem
        if width > max_text:
            fitted = fit_lines([ln], theme)[0]
            return fitted, box_size([fitted], theme)[0]
        return ln, round(max(min_w, width + pad_x), 2)

    return measure


def _group_label(graph: Graph, path: tuple[str, ...], parent_len: int) -> str:
    parts = []
    for i in range(parent_len + 1, len(path) + 1):
        g = graph.groups.get(path[:i])
        parts.append(g.label if g is not None and g.label else path[i - 1])
    label = "/".join(parts)
    g = graph.groups.get(path)
    if g is not None and g.op and g.op not in label:
        label = f"{label} ({g.op})"
    return label


def layout_layered(graph: Graph, theme: Theme, direction: str = "TB",
                   aux: bool = True) -> Layout:
    """Lay out ``graph`` top-down (or LR/BT/RL) with groups as frames."""
    progress = LayoutProgress(len(graph.nodes) + 1)
    try:
        return _layout(graph, theme, direction, aux, progress)
    finally:
        progress.close()


def _layout(graph: Graph, theme: Theme, direction: str, aux: bool,
            progress: LayoutProgress) -> Layout:
    t0 = time.process_time()
    LAST_TIMINGS.clear()

    def _mark(phase: str) -> None:  # cumulative CPU seconds at the start of each phase (bench)
        LAST_TIMINGS[phase] = round(time.process_time() - t0, 4)

    direction = direction.upper()
    horizontal = direction in ("LR", "RL")
    sp = theme["spacing"]
    gt = theme["group"]
    margin = float(sp["margin"])
    node_ids = list(graph.nodes)
    node_idx = {nid: i for i, nid in enumerate(node_ids)}

    _mark('boxes')
    # ---- boxes ------------------------------------------------------------------------------
    # Measuring text dominates at 50k nodes and most lines repeat (shapes, op names), so
    # widths are memoised per line; the height depends only on the line styles.
    lines: dict[Key, list[LabelLine]] = {}
    size: dict[Key, tuple[float, float]] = {}  # final (w, h)
    measure = _line_measurer(theme)
    line_memo: dict[tuple[str, str], tuple[LabelLine, float]] = {}
    height_memo: dict[tuple[str, ...], float] = {}
    for nid, node in graph.nodes.items():
        fitted = []
        w = 0.0
        for ln in node_lines(graph, node):
            hit = line_memo.get((ln.text, ln.style))
            if hit is None:
                hit = line_memo[(ln.text, ln.style)] = measure(ln)
            fitted.append(hit[0])
            w = max(w, hit[1])
        styles = tuple(ln.style for ln in fitted)
        h = height_memo.get(styles)
        if h is None:
            h = height_memo[styles] = box_size(fitted, theme)[1]
        lines[("n", nid)] = fitted
        # widths rounded up to a grid: the 48 copies of a block whose names differ by a
        # digit ("h.9" / "h.10") get equal boxes, hence one shared sub-layout
        size[("n", nid)] = (math.ceil(w / WIDTH_GRID - 1e-9) * WIDTH_GRID, h)

    _mark('frames and the level tree')
    # ---- frames and the level tree ----------------------------------------------------------
    framed, _counts = _framed_groups(graph)
    chain: dict[str, list[tuple[str, ...]]] = {}
    chain_memo: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for nid, node in graph.nodes.items():
        g = node.group
        ch = chain_memo.get(g)
        if ch is None:
            ch = chain_memo[g] = [g[:i] for i in range(1, len(g) + 1) if g[:i] in framed]
        chain[nid] = ch
    levels: dict[tuple[str, ...], _Level] = {(): _Level(())}
    group_parent: dict[tuple[str, ...], tuple[str, ...]] = {}
    group_first: dict[tuple[str, ...], int] = {}
    for nid in node_ids:
        ch = chain[nid]
        for j, p in enumerate(ch):
            if p not in levels:
                levels[p] = _Level(p)
                group_parent[p] = ch[j - 1] if j else ()
                group_first[p] = node_idx[nid]
    for nid in node_ids:
        ch = chain[nid]
        levels[ch[-1] if ch else ()].add_item(("n", nid), float(node_idx[nid]))
    for p, parent in group_parent.items():
        levels[parent].add_item(("g", p), float(group_first[p]))

    _mark('edges -> per-level pieces')
    # ---- edges -> per-level pieces -----------------------------------------------------------
    producer: dict[str, int] = {}
    for i, node in enumerate(graph.nodes.values()):
        for t in node.outputs:
            producer.setdefault(t, i)
    int_edges: list[tuple[int, int, str]] = []
    for j, node in enumerate(graph.nodes.values()):
        seen_t: set[str] = set()
        for t in node.inputs:
            i = producer.get(t)
            if i is None or t in seen_t:
                continue
            seen_t.add(t)
            int_edges.append((i, j, t))
    aux_edges = find_aux_edges(len(node_ids), int_edges) if aux else set()
    stub_of: dict[Key, str] = {}
    pieces: list[tuple[str, str, str, list[tuple[tuple[str, ...], int]]]] = []
    for ei, (si, di, tensor) in enumerate(int_edges):
        if si == di:
            continue
        e_src, e_dst = node_ids[si], node_ids[di]
        if ei in aux_edges:
            skey = ("s", e_src, e_dst)
            ch = chain[e_dst]
            lv = levels[ch[-1] if ch else ()]
            if skey not in stub_of:
                stub_of[skey] = e_src
                lv.add_item(skey, di - 0.5)
            i = lv.edge(("item", skey, None), ("item", ("n", e_dst), None))
            pieces.append((e_src, e_dst, tensor, [(lv.path, i)]))
            continue
        cu, cv = chain[e_src], chain[e_dst]
        common = 0
        while common < len(cu) and common < len(cv) and cu[common] == cv[common]:
            common += 1
        seq: list[tuple[tuple[str, ...], int]] = []
        # up: out of every group that holds the source but not the target
        for j in range(len(cu) - 1, common - 1, -1):
            p = cu[j]
            item = ("n", e_src) if j == len(cu) - 1 else ("g", cu[j + 1])
            port = None if item[0] == "n" else e_src
            seq.append((p, levels[p].edge(("item", item, port), ("port", e_src))))
        lca = cu[common - 1] if common else ()
        src_item = ("n", e_src) if common == len(cu) else ("g", cu[common])
        dst_item = ("n", e_dst) if common == len(cv) else ("g", cv[common])
        seq.append((lca, levels[lca].edge(
            ("item", src_item, None if src_item[0] == "n" else e_src),
            ("item", dst_item, None if dst_item[0] == "n" else e_src))))
        for j in range(common, len(cv)):
            q = cv[j]
            item = ("n", e_dst) if j == len(cv) - 1 else ("g", cv[j + 1])
            port = None if item[0] == "n" else e_src
            seq.append((q, levels[q].edge(("port", e_src), ("item", item, port))))
        pieces.append((e_src, e_dst, tensor, seq))

    # stub boxes: a pill with the source's name
    detail = float(theme["font"]["size"])
    for skey, src in stub_of.items():
        node = graph.nodes[src]
        text = truncate(node.name or node.op, detail, 140.0)
        w = max(40.0, round(text_width(text, detail) + 16, 2))
        h = round(line_height(detail) + 8, 2)
        size[skey] = (w, h)
        lines[skey] = [LabelLine(text, "detail")]

    _mark('solve bottom-up, reusing identical sub-problems')
    # ---- solve bottom-up, reusing identical sub-problems ----------------------------------------
    band = round(line_height(float(gt["label_size"])) + 4 + 6, 2)
    gpad = float(gt["padding"])
    labels: dict[tuple[str, ...], str] = {}
    for p in levels:
        if p:
            parent = group_parent[p]
            labels[p] = _group_label(graph, p, len(parent))
    cache: dict[tuple, LevelResult] = {}
    serial: dict[int, int] = {}  # id(result) -> creation number (deterministic class id)
    order = sorted(levels, key=lambda p: (-len(p), group_first.get(p, -1)))
    done = 0
    for p in order:
        lv = levels[p]
        perm = sorted(range(len(lv.items)), key=lambda i: (lv.order_key[i], i))
        lv.items = [lv.items[i] for i in perm]
        lv.index = {k: i for i, k in enumerate(lv.items)}
        n = len(lv.items)
        widths, heights, spread = [], [], []
        for k in lv.items:
            if k[0] == "g":
                r = levels[k[1]].result
                assert r is not None
                w, h = r.width, r.height  # already TB space
            else:
                w, h = size[k]
                if horizontal:
                    w, h = h, w
            widths.append(w)
            heights.append(h)
            spread.append(k[0] == "n")
        n_in = len(lv.in_ports)
        ledges = []
        for src, dst in lv.edge_refs:
            if src[0] == "port":
                s, so = n + lv.in_ports[src[1]], 0.0
            else:
                s = lv.index[src[1]]
                so = 0.0
                if src[2] is not None:
                    cr = levels[src[1][1]]
                    assert cr.result is not None
                    so = cr.result.port_x[len(cr.in_ports) + cr.out_ports[src[2]]] - widths[s] / 2
            if dst[0] == "port":
                d, do = n + n_in + lv.out_ports[dst[1]], 0.0
            else:
                d = lv.index[dst[1]]
                do = 0.0
                if dst[2] is not None:
                    cr = levels[dst[1][1]]
                    assert cr.result is not None
                    do = cr.result.port_x[cr.in_ports[dst[2]]] - widths[d] / 2
            ledges.append((s, d, so, do))
        if p:
            label_w = text_width(labels[p], float(gt["label_size"])) + 16
            if direction == "TB":
                pad, mins = (band, gpad, gpad, gpad), (label_w, 0.0)
            elif direction == "BT":
                pad, mins = (gpad, gpad, band, gpad), (label_w, 0.0)
            else:  # LR / RL: TB-space left is the final top
                pad, mins = (gpad, gpad, gpad, band), (0.0, label_w)
        else:
            pad, mins = (0.0, 0.0, 0.0, 0.0), (0.0, 0.0)
        is_group = [k[0] == "g" for k in lv.items]
        item_class = [serial[id(levels[k[1]].result)] if k[0] == "g" else -1
                      for k in lv.items]
        inp = LevelInput(widths, heights, n_in, len(lv.out_ports), ledges, spread, is_group,
                         item_class, [k[0] == "s" for k in lv.items], bool(p),
                         pad, mins, float(sp["node_sep"]), float(sp["rank_sep"]),
                         float(sp["edge_sep"]))
        sig = inp.signature()
        res = cache.get(sig)
        if res is None:
            res = solve_level(inp, phase=progress.phase if n > 2000 else None)
            cache[sig] = res
            serial[id(res)] = len(serial)
        lv.result = res
        done += n
        progress.update(done, f"{len(levels)} groups")
    progress.phase("placing and routing")

    _mark('place top-down in absolute TB-space coordinates')
    # ---- place top-down in absolute TB-space coordinates --------------------------------------
    origin: dict[tuple[str, ...], tuple[float, float]] = {(): (margin, margin)}
    centers: dict[Key, tuple[float, float]] = {}
    frames: list[tuple[tuple[str, ...], float, float, float, float]] = []
    for p in sorted(levels, key=lambda q: (len(q), group_first.get(q, -1))):
        lv = levels[p]
        res = lv.result
        assert res is not None
        ox, oy = origin[p]
        for i, k in enumerate(lv.items):
            cx, cy = ox + res.cx[i], oy + res.cy[i]
            if k[0] == "g":
                cr = levels[k[1]].result
                assert cr is not None
                gx, gy = cx - cr.width / 2, cy - cr.height / 2
                origin[k[1]] = (gx, gy)
                frames.append((k[1], gx, gy, cr.width, cr.height))
            else:
                centers[k] = (cx, cy)
    root = levels[()].result
    assert root is not None
    tb_w, tb_h = root.width + 2 * margin, root.height + 2 * margin

    def tf(x: float, y: float) -> tuple[float, float]:
        if direction == "TB":
            return x, y
        if direction == "BT":
            return x, tb_h - y
        if direction == "LR":
            return y, x
        return tb_h - y, x  # RL

    def rnd(v: float) -> float:
        return round(v, 2) + 0.0

    boxes: dict[str, NodeBox] = {}
    for k, (cx, cy) in centers.items():
        w, h = size[k]
        fx, fy = tf(cx, cy)
        if k[0] == "n":
            bid, shape = k[1], "box"
        else:
            bid, shape = f"{k[1]}::stub::{k[2]}", "stub"
        boxes[bid] = NodeBox(bid, rnd(fx - w / 2), rnd(fy - h / 2), w, h, lines[k], shape)
    # keep node order = graph order, stubs right before their consumer
    ordered: dict[str, NodeBox] = {}
    stubs_for: dict[str, list[str]] = {}
    for k in stub_of:
        stubs_for.setdefault(k[2], []).append(f"{k[1]}::stub::{k[2]}")
    for nid in node_ids:
        for sid in stubs_for.get(nid, ()):
            ordered[sid] = boxes[sid]
        ordered[nid] = boxes[nid]
    group_frames = []
    for path, gx, gy, gw, gh in frames:
        x0, y0 = tf(gx, gy)
        x1, y1 = tf(gx + gw, gy + gh)
        group_frames.append(GroupFrame(path, labels[path], rnd(min(x0, x1)), rnd(min(y0, y1)),
                                       rnd(abs(x1 - x0)), rnd(abs(y1 - y0))))
    group_frames.sort(key=lambda f: (len(f.path), f.path))

    paths: list[EdgePath] = []
    for src, dst, tensor, seq in pieces:
        if len(seq) == 1:
            p, i = seq[0]
            ox, oy = origin[p]
            pts = [(ox + x, oy + y) for x, y in levels[p].result.paths[i]]  # type: ignore[union-attr]
        else:
            pts = []
            for p, i in seq:
                ox, oy = origin[p]
                pts.extend((ox + x, oy + y) for x, y in levels[p].result.paths[i])  # type: ignore[union-attr]
        if len(pts) < 2:
            continue
        final, spline = finish(pts, direction, tb_h)
        if len(final) >= 2:
            paths.append(EdgePath(src, dst, tensor, final, spline=spline))
    fw, fh = (tb_h, tb_w) if horizontal else (tb_w, tb_h)
    _mark("end")
    return Layout(width=rnd(fw), height=rnd(fh), nodes=ordered, edges=paths,
                  groups=group_frames, direction=direction, engine="layered")
