"""The viewer stage: the HTML viewer's page data, between layout and the HTML renderer.

For every group of the scope tree it builds a view (the group's direct nodes, its child groups
as single boxes, Input/Output proxies for the tensors crossing its border), lays each view out
with the layout engines, and packs views, boxes, edges, frames, labels and captured values
into the data the page's script reads (nnviz.viewer.payload encodes it). nnviz.render.html
only wraps that data in the page (template, fonts, themes, CSP): no renderer runs a layout.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nnviz.ir import Edge, Graph, Node, Param, Tensor, format_shape
from nnviz.layout.labels import LineFitter, display_name, node_lines
from nnviz.layout.model import EdgePath, LabelLine, Layout, NodeBox
from nnviz.layout.titles import title_boxes
from nnviz.theme import Theme
from nnviz.viewer.payload import Interner

_ATTR_LIMIT = 400  # characters of one attribute / meta value shown; more is cut
_STYLE_CODES = {"title": 0, "name": 1, "detail": 2}


# ---- small helpers ---------------------------------------------------------------------------

def _num(v: float) -> float | int:
    """Geometry rounded to 0.1 px, written as an int when whole (smaller JSON)."""
    r = round(float(v), 1)
    return int(r) if r.is_integer() else r


def _small_value(value: Any) -> Any:
    """A JSON-able attribute value, cut to _ATTR_LIMIT characters (huge constants)."""
    # The common cases (counters, flags, names) without a JSON round trip: a 50k-node page
    # has 300k such values.
    if value is None or (isinstance(value, int) and -10 ** 15 < value < 10 ** 15):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= _ATTR_LIMIT else text[:_ATTR_LIMIT] + "\u2026"
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except (TypeError, ValueError):
        text = json.dumps(str(value), ensure_ascii=False)
    if len(text) <= _ATTR_LIMIT:
        return json.loads(text)
    return text[:_ATTR_LIMIT] + "\u2026"


def _small_dict(d: dict) -> dict | int:
    return {str(k): _small_value(v) for k, v in d.items()} if d else 0


def _front_code(name: str, prev: str) -> str | list:
    """Names share long scope prefixes with the previous node's name: send [shared, rest]."""
    k = 0
    limit = min(len(name), len(prev))
    while k < limit and name[k] == prev[k]:
        k += 1
    return [k, name[k:]] if k >= 8 else name


# ---- the per-group views ---------------------------------------------------------------------

class _View:
    """The sub-graph shown when one group is open."""

    def __init__(self, gi: int, path: tuple[str, ...]) -> None:
        self.gi = gi
        self.path = path
        self.members: list[str] = []  # box ids in first-seen order
        self.kinds: dict[str, tuple[str, int]] = {}  # box id -> ("n"|"g"|"i"|"o", ref)
        self.ins: dict[str, list[str]] = {}  # box id -> input tensor ids
        self.outs: dict[str, list[str]] = {}
        self.pairs: set[tuple[str, str]] = set()

    def box(self, bid: str, kind: str, ref: int) -> str:
        if bid not in self.kinds:
            self.kinds[bid] = (kind, ref)
            self.members.append(bid)
            self.ins[bid] = []
            self.outs[bid] = []
        return bid

    def link(self, src: str, dst: str, tensor: str) -> None:
        """One edge per (src box, dst box): parallel tensors between two boxes are one line."""
        if src == dst or (src, dst) in self.pairs:
            return
        self.pairs.add((src, dst))
        if tensor not in self.outs[src]:
            self.outs[src].append(tensor)
        if tensor not in self.ins[dst]:
            self.ins[dst].append(tensor)


def _group_table(graph: Graph) -> list[tuple[str, ...]]:
    """All group paths, root first, every prefix present, in a deterministic order."""
    paths: list[tuple[str, ...]] = [()]
    seen = {()}

    def add(path: tuple[str, ...]) -> None:
        for i in range(1, len(path) + 1):
            p = tuple(path[:i])
            if p not in seen:
                seen.add(p)
                paths.append(p)

    for p in graph.groups:
        add(tuple(p))
    for node in graph.nodes.values():
        add(tuple(node.group))
    return paths


INLINE = 12  # groups of at most this many nodes are drawn open (framed) inside their parent
SMALL_MODEL = 4  # ... and a model of at most SMALL_MODEL * INLINE nodes is drawn all open


def _homes(graph: Graph, paths: list[tuple[str, ...]], stats: list[dict], inline: int
           ) -> dict[str, tuple[str, ...]]:
    """The view each node is drawn in. Small groups are not worth a click: a Linear module
    around one MatMul, a LayerNorm scope, a 3-op stem are drawn open inside their parent (in a
    frame from the layout engine), and a small model is drawn all open. Big groups get their
    own view, and folded repeats (attrs["repeat"]) always do. Each node is still laid out in
    exactly one view."""
    gidx = {p: i for i, p in enumerate(paths)}
    inline = max(1, inline)
    everything = len(graph.nodes) <= SMALL_MODEL * inline
    homes: dict[str, tuple[str, ...]] = {}
    for node in graph.nodes.values():
        g = tuple(node.group)
        while g and (everything or stats[gidx[g]]["nodes"] <= inline) and not (
                graph.groups.get(g) and graph.groups[g].attrs.get("repeat")):
            g = g[:-1]
        homes[node.id] = g
    return homes


def _build_views(graph: Graph, paths: list[tuple[str, ...]], tindex: dict[str, int],
                 homes: dict[str, tuple[str, ...]]) -> list[_View]:
    gidx = {p: i for i, p in enumerate(paths)}
    views = [_View(i, p) for i, p in enumerate(paths)]
    taken = set(graph.nodes)

    def fresh(base: str) -> str:
        while base in taken:
            base += "_"
        taken.add(base)
        return base

    group_box_ids = {p: fresh(f"\u0000g{i}") for i, p in enumerate(paths)}
    in_ids: dict[tuple[int, str], str] = {}
    out_ids: dict[tuple[int, str], str] = {}

    def rep(v: _View, node: Node) -> str:
        """The box standing for ``node`` in view ``v``: itself or the child group holding it."""
        depth = len(v.path)
        home = homes[node.id]
        if len(home) == depth:
            return v.box(node.id, "n", -1)
        child = home[:depth + 1]
        return v.box(group_box_ids[child], "g", gidx[child])

    def in_proxy(v: _View, t: str) -> str:
        key = (v.gi, t)
        if key not in in_ids:
            in_ids[key] = fresh(f"\u0000i{v.gi}_{tindex[t]}")
        return v.box(in_ids[key], "i", tindex[t])

    def out_proxy(v: _View, t: str) -> str:
        key = (v.gi, t)
        if key not in out_ids:
            out_ids[key] = fresh(f"\u0000o{v.gi}_{tindex[t]}")
        return v.box(out_ids[key], "o", tindex[t])

    # Every node and every non-empty child group is a member of its view even without edges.
    used = {()}
    for home in homes.values():
        for k in range(1, len(home) + 1):
            used.add(home[:k])
    for p in paths[1:]:
        if p in used:
            views[gidx[p[:-1]]].box(group_box_ids[p], "g", gidx[p])
    for node in graph.nodes.values():
        views[gidx[homes[node.id]]].box(node.id, "n", -1)

    producers = graph.producers()
    for node in graph.nodes.values():
        gv = homes[node.id]
        seen: set[str] = set()
        for t in node.inputs:
            if t in seen or t not in tindex:
                continue
            seen.add(t)
            src_id = producers.get(t)
            src = graph.nodes[src_id] if src_id is not None else None
            if src is not None and src.id == node.id:
                continue
            gu = homes[src.id] if src is not None else None
            d = 0
            if gu is not None:
                while d < len(gu) and d < len(gv) and gu[d] == gv[d]:
                    d += 1
                lca = views[gidx[gu[:d]]]
                lca.link(rep(lca, src), rep(lca, node), t)
                for k in range(d + 1, len(gu) + 1):  # the tensor leaves these groups
                    v = views[gidx[gu[:k]]]
                    v.link(rep(v, src), out_proxy(v, t), t)
            for k in range(d + 1, len(gv) + 1):  # ... and enters these
                v = views[gidx[gv[:k]]]
                v.link(in_proxy(v, t), rep(v, node), t)
    return views


def _view_graph(graph: Graph, view: _View, paths: list[tuple[str, ...]],
                tensors_by_index: list[str], stats: list[dict]) -> Graph:
    """The IR sub-graph of one view, for the layout engine."""
    sub = Graph(name=graph.name)
    for bid in view.members:
        kind, ref = view.kinds[bid]
        ins, outs = view.ins[bid], view.outs[bid]
        for t in ins + outs:
            if t not in sub.tensors:
                sub.add_tensor(graph.tensors.get(t) or Tensor(t))
        if kind == "n":
            real = graph.nodes[bid]
            # Own outputs first (their shapes label the box), then edge tensors.
            node_outs = list(real.outputs) + [t for t in outs if t not in real.outputs]
            for t in real.outputs:
                if t not in sub.tensors:
                    sub.add_tensor(graph.tensors.get(t) or Tensor(t))
            # Groups drawn open in this view keep their path (relative to the view): the
            # layout engine frames them.
            rel = tuple(real.group[len(view.path):])
            if rel:
                sub.ensure_group(rel)
                for k in range(1, len(rel) + 1):
                    grp = graph.groups.get(view.path + rel[:k])
                    if grp is not None:
                        sub.groups[rel[:k]].label = grp.label or rel[k - 1]
                        sub.groups[rel[:k]].op = grp.op
            sub.add_node(Node(bid, real.op, real.kind, real.name, {}, ins, node_outs,
                              real.params, rel, dict(real.meta)))
        elif kind == "g":
            path = paths[ref]
            grp = graph.groups.get(path)
            label = (grp.label if grp and grp.label else path[-1])
            op = (grp.op if grp and grp.op else "") or label
            total = stats[ref]["params"]
            params = [Param("\u03a3", (total,))] if total else []
            meta = {"repeat": grp.attrs["repeat"]} if grp and grp.attrs.get("repeat") else {}
            sub.add_node(Node(bid, op, "group", label, {}, ins, outs, params, (), meta))
        elif kind == "i":
            sub.add_node(Node(bid, "Input", "io", tensors_by_index[ref], {}, [], outs))
        else:
            sub.add_node(Node(bid, "Output", "io", tensors_by_index[ref], {}, ins, []))
    return sub


class _LayoutReuse:
    """The 48 layers of a transformer give 48 views that differ only in names: same topology,
    same box sizes. Such a view reuses the geometry of the first one (DESIGN.md: "the same
    layout of a repeated block can be reused"), with its own ids, lines and tensors. Layouts
    with reference stubs or edge labels (text that depends on names) are never reused.

    Each box's lines are measured once per page: the view's signature measures them (with the
    layout's memoised LineFitter), and a box whose view node reads as its real node does
    (same op, name, outputs, meta, params; a group or not) hands the same lines to the check
    of what viewer.js derives (``real_lines``) instead of measuring the real node again."""

    def __init__(self, theme: Theme) -> None:
        self.fitter = LineFitter(theme)
        self.cache: dict[tuple, tuple[list[str], Layout] | None] = {}
        self.lines: dict[str, list[LabelLine]] = {}
        self.same: dict[str, list[LabelLine]] = {}  # box id -> lines its real node gives
        self.last: tuple[Graph, tuple] | None = None  # the last view get() measured
        self.edges: list[Edge] = []  # the edges of the view signature() measured last

    def fitted(self, graph: Graph, node: Node) -> tuple[list[LabelLine], float]:
        """fit_lines(node_lines(...)) and the widest line, memoised per line."""
        fitted, w, _ = self.fitter.fit(node_lines(graph, node))
        return fitted, w

    def real_lines(self, graph: Graph, node: Node) -> list[LabelLine]:
        """The fitted lines of a real node of the page's graph."""
        hit = self.same.get(node.id)
        return hit if hit is not None else self.fitted(graph, node)[0]

    def signature(self, sub: Graph, graph: Graph) -> tuple:
        index = {nid: i for i, nid in enumerate(sub.nodes)}
        sizes = []
        fit = self.fitter.fit
        real_of = graph.nodes.get
        self.lines = lines = {}
        self.same = same = {}
        for nid, node in sub.nodes.items():
            fitted, w, h = fit(node_lines(sub, node))
            lines[nid] = fitted
            sizes.append((w, h))
            real = real_of(nid)
            # what node_lines reads (labels.py): op, kind (a collapsed group's title reads
            # the graph's groups: measured again), name, outputs' shapes (an io box:
            # its first input's), params, meta, the canonical activation (a view node has
            # no canon), and the group only through display_name (whether there is one: a
            # box in its own view's frame has none)
            if real is not None and real.params is node.params and real.op == node.op \
                    and real.name == node.name and real.kind == node.kind != "group" \
                    and list(real.outputs) == list(node.outputs) \
                    and (real.kind != "io" or list(real.inputs) == list(node.inputs)) \
                    and real.meta == node.meta \
                    and real.canon.get("activation") == node.canon.get("activation") \
                    and (bool(real.group) == bool(node.group)
                         or display_name(real) == display_name(node)):
                same[nid] = fitted
        self.edges = sub.edges()  # get() renames them too: derived once per view
        edges = tuple([(index[e.src], index[e.dst]) for e in self.edges])
        groups = tuple([n.group for n in sub.nodes.values()])
        labels = tuple((p, g.label, g.op) for p, g in sub.groups.items())
        return tuple(sizes), edges, groups, labels

    def get(self, sub: Graph, graph: Graph) -> Layout | None:
        sig = self.signature(sub, graph)
        self.last = (sub, sig)
        hit = self.cache.get(sig)
        if hit is None:
            return None
        old_ids, old = hit
        new_ids = list(sub.nodes)
        rename = dict(zip(old_ids, new_ids))
        tensor_of = {(e.src, e.dst): e.tensor for e in self.edges}
        lay = Layout(old.width, old.height, direction=old.direction, engine=old.engine,
                     style=old.style, extras=dict(old.extras))
        for bid, box in old.nodes.items():
            nid = rename[bid]
            lay.nodes[nid] = NodeBox(nid, box.x, box.y, box.w, box.h, self.lines[nid],
                                     box.shape)
        for e in old.edges:
            src, dst = rename[e.src], rename[e.dst]
            lay.edges.append(EdgePath(src, dst, tensor_of.get((src, dst), e.tensor),
                                      list(e.points), e.spline, e.label))
        lay.groups = list(old.groups)  # same relative paths and labels (in the signature)
        return lay

    def put(self, sub: Graph, graph: Graph, lay: Layout) -> None:
        # put follows the get() of the same view: its signature is still at hand
        sig = self.last[1] if self.last and self.last[0] is sub else self.signature(sub, graph)
        reusable = (all(b.shape != "stub" for b in lay.nodes.values())
                    and not any(e.label for e in lay.edges) and set(lay.nodes) == set(sub.nodes))
        if sig not in self.cache:
            self.cache[sig] = (list(sub.nodes), lay) if reusable else None


def _group_stats(graph: Graph, paths: list[tuple[str, ...]]) -> list[dict]:
    """Per group: its recursive node count (which decides the views drawn open) and the
    parameter and FLOP totals of the passes (``passes.params``, ``passes.flops``: learnable
    parameters only, buffers and constants apart, shared weights once, blocks a fold removed
    included), so the page says what ``nnviz summary`` and the drawings say. A group the
    passes did not annotate gets the same rule applied to its nodes here."""
    from nnviz.passes.params import param_totals

    gidx = {p: i for i, p in enumerate(paths)}
    stats = [{"nodes": 0, "params": 0, "flops": 0} for _ in paths]
    for node in graph.nodes.values():
        g = tuple(node.group)
        for k in range(len(g) + 1):
            stats[gidx[g[:k]]]["nodes"] += 1
    members: list[list[Node]] | None = None
    for i, path in enumerate(paths):
        grp = graph.groups.get(path)
        sums = graph.meta if not path else (grp.attrs if grp is not None else {})
        params, flops = sums.get("params"), sums.get("flops")
        if not _is_num(params) or not _is_num(flops):
            if members is None:  # an unannotated graph: the members of every group, once
                members = [[] for _ in paths]
                for node in graph.nodes.values():
                    g = tuple(node.group)
                    for k in range(len(g) + 1):
                        members[gidx[g[:k]]].append(node)
            if not _is_num(params):
                params = param_totals(p for n in members[i] for p in n.params)["params"]
            if not _is_num(flops):
                flops = sum(f for n in members[i] if _is_num(f := n.meta.get("flops")))
        stats[i]["params"] = params
        stats[i]["flops"] = round(flops) if isinstance(flops, float) else flops
    return stats


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---- JS label reconstruction check ------------------------------------------------------------

def _js_lines(graph: Graph, node: Node, reuse: _LayoutReuse) -> list[str]:
    """What viewer.js derives for a real node's box; boxes whose layout lines differ (a newer
    labels.py) get their lines embedded, so the page always shows what the layout sized."""
    return [ln.text for ln in reuse.real_lines(graph, node)]


# ---- packing ---------------------------------------------------------------------------------

def pack_page(graph: Graph, layout: Layout, theme: Theme, engine: str, direction: str,
          inline: int = INLINE) -> dict:
    from nnviz.layout import layout as run_layout

    tensors_by_index: list[str] = []
    tindex: dict[str, int] = {}

    def tref(t: str) -> int:
        if t not in tindex:
            tindex[t] = len(tensors_by_index)
            tensors_by_index.append(t)
        return tindex[t]

    for t in graph.tensors:
        tref(t)
    for node in graph.nodes.values():
        for t in node.inputs:
            tref(t)
        for t in node.outputs:
            tref(t)

    paths = _group_table(graph)
    stats = _group_stats(graph, paths)
    node_index = {nid: i for i, nid in enumerate(graph.nodes)}
    graph_ids = list(graph.nodes)
    homes = _homes(graph, paths, stats, inline)
    views = _build_views(graph, paths, tindex, homes)

    shapes = Interner()
    dtypes = Interner()
    ops = Interner()
    kinds = Interner()

    producers = graph.producers()
    t_shape, t_dtype, t_prod = [], [], []
    for t in tensors_by_index:
        tensor = graph.tensors.get(t)
        shape = tensor.shape if tensor is not None else None
        t_shape.append(shapes(format_shape(shape)) if shape is not None else -1)
        t_dtype.append(dtypes(tensor.dtype if tensor is not None else None))
        p = producers.get(t)
        t_prod.append(node_index[p] if p is not None else -1)

    # Exporters name outputs after their node ("<node name>_output_0"): such an id is sent as
    # [suffix] and rebuilt in the page from the producer's name.
    t_ids: list[Any] = []
    for t, p in zip(tensors_by_index, t_prod):
        pname = graph.nodes[graph_ids[p]].name if p >= 0 else ""
        rel = len(pname) >= 4 and t.startswith(pname) and len(t) > len(pname)
        t_ids.append([t[len(pname):]] if rel else t)
    n_id, n_name, n_op, n_kind, n_grp, n_in, n_out, n_par, n_attr, n_meta = (
        [], [], [], [], [], [], [], [], [], [])
    n_scope: list[int] = []
    prev_name = ""
    gidx = {p: i for i, p in enumerate(paths)}
    for node in graph.nodes.values():
        n_id.append(None if node.id == node.name else node.id)
        n_name.append(_front_code(node.name, prev_name))
        prev_name = node.name
        n_op.append(ops(node.op))
        n_kind.append(kinds(node.kind))
        n_grp.append(gidx[homes[node.id]])
        n_scope.append(gidx[tuple(node.group)])
        n_in.append([tindex[t] for t in node.inputs])
        n_out.append([tindex[t] for t in node.outputs])
        n_par.append([[p.name, shapes(format_shape(p.shape)) if p.shape is not None else -1,
                       dtypes(p.dtype), p.count] for p in node.params] or 0)
        n_attr.append(_small_dict(node.attrs))
        n_meta.append(_small_dict(node.meta))

    groups = []
    for i, p in enumerate(paths):
        grp = graph.groups.get(p)
        label = (grp.label if grp and grp.label else (p[-1] if p else graph.name))
        groups.append({
            "label": label, "op": grp.op if grp else "", "parent": gidx[p[:-1]] if p else -1,
            "attrs": _small_dict(grp.attrs) if grp else 0, **stats[i]})

    # One layout per view. A graph without groups has one view: the layout we were given.
    packed_views = []
    reuse = _LayoutReuse(theme)
    for view in views:
        reuse.same = {}  # the lines measured for this view only (get() fills them)
        if len(paths) == 1 and layout.style == "graph" and set(layout.nodes) == set(graph.nodes):
            lay = layout
        elif not view.members:  # a single-node group drawn in its parent
            lay = Layout(0, 0)
        else:
            sub = _view_graph(graph, view, paths, tensors_by_index, stats)
            lay = reuse.get(sub, graph)
            if lay is None:
                lay = run_layout(sub, engine=engine, direction=direction, theme=theme)
                reuse.put(sub, graph, lay)
        packed_views.append(_pack_view(graph, view, lay, node_index, tindex, reuse, gidx,
                                       theme["group"]["label_size"]))

    # Captured values travel in their own compact block ("values"), not as page meta.
    page_meta = {k: v for k, v in graph.meta.items() if k not in ("values", "overlay")}
    return {
        "format": "nnviz-viewer", "version": 1,
        "name": graph.name, "meta": _small_dict(page_meta),
        "values": _pack_values(graph),
        "direction": direction,
        "ops": ops.items, "kinds": kinds.items, "shapes": shapes.items, "dtypes": dtypes.items,
        "tensors": {"id": t_ids, "shape": t_shape, "dtype": t_dtype,
                    "producer": t_prod},
        "nodes": {"id": n_id, "name": n_name, "op": n_op, "kind": n_kind, "group": n_grp,
                  "scope": n_scope,
                  "inputs": n_in, "outputs": n_out, "params": n_par, "attrs": n_attr,
                  "meta": n_meta},
        "groups": groups,
        "graph_inputs": [tindex[t] for t in graph.inputs if t in tindex],
        "graph_outputs": [tindex[t] for t in graph.outputs if t in tindex],
        "views": packed_views,
    }


# Colour-by choices of the viewer besides "kind": (key, label, overlay, metric).
_VALUE_METRICS = (
    ("act:std", "activation std", "activations", "std"),
    ("act:absmax", "activation max |x|", "activations", "absmax"),
    ("act:zeros", "activation zeros", "activations", "zeros"),
    ("grad:norm", "gradient norm", "gradients", "norm"),
    ("grad:absmax", "gradient max |g|", "gradients", "absmax"),
    ("w:norm", "weight norm", "weights", "norm"),
    ("w:std", "weight std", "weights", "std"),
    ("w:ratio", "|grad| / |weight|", "weights", "ratio"),
    ("w:change", "weight change", "weights", "change"),
)


def _hist(rec: dict | None) -> Any:
    h = (rec or {}).get("hist")
    return [h["lo"], h["hi"], h["counts"]] if h else 0


def _pack_values(graph: Graph) -> dict:
    """The viewer's colour-by data: per node one number per metric (params, FLOPs and, with
    captured values, nnviz.values' metrics), activation/gradient histograms, the flags."""
    nodes = list(graph.nodes.values())
    metrics: list[dict] = []

    def put(key: str, label: str, vals: list, log: bool = True) -> None:
        if any(v is not None for v in vals):
            metrics.append({"key": key, "label": label, "log": log, "v": vals})

    put("params", "parameters", [n.param_count or None for n in nodes])
    put("flops", "FLOPs", [n.meta.get("flops") if isinstance(n.meta.get("flops"), int)
                           and n.meta.get("flops") else None for n in nodes])
    values = graph.meta.get("values")
    out: dict[str, Any] = {"metrics": metrics}
    if not values:
        return out
    import math

    from nnviz.values.flags import badge
    from nnviz.values.overlay import _act_record, member_flags, node_value

    if not values.get("gradients"):
        skip = {"gradients", "ratio"}
    else:
        skip = set()
    for key, label, overlay, metric in _VALUE_METRICS:
        if overlay in skip or metric in skip:
            continue
        vals = []
        for n in nodes:
            v, _ = node_value(n, values, overlay, metric)
            vals.append(float(v) if v is not None and math.isfinite(v) else None)
        put(key, label, vals, metric != "zeros")
    tensors = values.get("tensors", {})
    out["hist"] = {"act": [_hist(_act_record(n, tensors, "act")) for n in nodes],
                   "grad": [_hist(_act_record(n, tensors, "grad")) for n in nodes]}
    flags = values.get("flags", {})
    out["flags"] = []
    for i, n in enumerate(nodes):
        f = member_flags(n, flags, graph.name)
        if f:
            out["flags"].append([i, badge(f), f])
    out["note"] = "; ".join(x for x in (values.get("sample"), values.get("loss")) if x)
    ov = graph.meta.get("overlay")
    if ov:
        prefix = {"activations": "act", "gradients": "grad", "weights": "w"}[ov["kind"]]
        out["start"] = f"{prefix}:{ov['metric']}"
    return out


def _pack_view(graph: Graph, view: _View, lay: Layout, node_index: dict[str, int],
               tindex: dict[str, int], reuse: _LayoutReuse, gidx: dict,
               title_size: float) -> dict:
    box_type, box_ref, xs, ys, ws, hs = [], [], [], [], [], []
    lines: dict[str, list] = {}
    box_index: dict[str, int] = {}
    codes = {"n": 0, "g": 1, "i": 2, "o": 3, "s": 4}
    stubs: list[tuple[int, str]] = []
    for bid, box in lay.nodes.items():
        kind, ref = view.kinds.get(bid, ("n", -1))
        if bid not in view.kinds and box.shape == "stub":
            # A reference stub of a high-fan-out input (layout engine): "<src>::stub::<dst>".
            src = _stub_source(bid, view)
            if src is None:
                continue
            kind = "s"
            stubs.append((len(box_type), src))
            lines[str(len(box_type))] = [[ln.text, _STYLE_CODES.get(ln.style, 2)]
                                         for ln in box.lines]
        elif kind == "n":
            if bid not in node_index:
                continue
            ref = node_index[bid]
            node = graph.nodes[bid]
            # viewer.js rebuilds op/name/shape/params lines itself; a loader's extra label
            # parts (a fused activation in the title, a quantization note) travel embedded
            if [ln.text for ln in box.lines] != _js_lines(graph, node, reuse) or \
                    node.meta.get("fused") or node.meta.get("note"):
                lines[str(len(box_type))] = [[ln.text, _STYLE_CODES.get(ln.style, 2)]
                                             for ln in box.lines]
        else:
            # Synthetic boxes (groups, proxies): their lines come from the layout as is.
            lines[str(len(box_type))] = [[ln.text, _STYLE_CODES.get(ln.style, 2)]
                                         for ln in box.lines]
        box_index[bid] = len(box_type)
        box_type.append(codes[kind])
        box_ref.append(ref)
        xs.append(_num(box.x))
        ys.append(_num(box.y))
        ws.append(_num(box.w))
        hs.append(_num(box.h))
    for k, src in stubs:  # a stub refers to the box of its source in the same view
        box_ref[k] = box_index.get(src, -1)
    e_src, e_dst, e_t, e_count, e_pts, e_spline = [], [], [], [], [], []
    for e in lay.edges:
        if e.src not in box_index or e.dst not in box_index or len(e.points) < 2:
            continue
        if e.spline:
            e_spline.append(len(e_src))
        e_src.append(box_index[e.src])
        e_dst.append(box_index[e.dst])
        e_t.append(tindex.get(e.tensor, -1))
        # Whole pixels, each point as a delta from the previous one: short numbers, and
        # edge geometry is the biggest part of the page.
        px = py = 0
        for x, y in e.points:
            ix, iy = round(x), round(y)
            e_pts.append(ix - px)
            e_pts.append(iy - py)
            px, py = ix, iy
        e_count.append(len(e.points))
    return {"group": view.gi, "w": _num(lay.width), "h": _num(lay.height),
            "box": {"type": box_type, "ref": box_ref, "x": xs, "y": ys, "w": ws, "h": hs},
            "lines": lines,
            "frame": _pack_frames(view, lay, gidx, title_size),
            "edge": {"src": e_src, "dst": e_dst, "tensor": e_t, "count": e_count,
                     "delta": e_pts, "spline": e_spline}}


def _pack_frames(view: _View, lay: Layout, gidx: dict, size: float) -> dict:
    """Frames of the groups drawn open in this view, outermost first; each title's patch
    starts at tx and is tw wide (the spot no edge crosses, where the SVG draws it too)."""
    out: dict[str, list] = {"group": [], "label": [], "x": [], "y": [], "w": [], "h": [],
                            "tx": [], "tw": []}
    frames = sorted(lay.groups, key=lambda f: (len(f.path), f.path))
    spots = title_boxes(frames, lay.edges, size) if frames else []
    for fr, (tx, _, tw, _) in zip(frames, spots):
        gi = gidx.get(view.path + tuple(fr.path))
        if gi is None:
            continue
        out["group"].append(gi)
        out["label"].append("\n".join(fr.lines) if fr.lines else fr.label)  # a wide title's lines
        for k, v in (("x", fr.x), ("y", fr.y), ("w", fr.w), ("h", fr.h), ("tx", tx), ("tw", tw)):
            out[k].append(_num(v))
    return out


def _stub_source(bid: str, view: _View) -> str | None:
    parts = bid.split("::stub::")
    for k in range(1, len(parts)):
        src = "::stub::".join(parts[:k])
        if src in view.kinds:
            return src
    return None
