"""One flat sub-problem of the compound layout: the items of one group (or of the top level).

Items are real boxes (nodes, stubs, collapsed or already laid-out child groups). A framed
group also has ports: one in-port per outside source feeding it (on the frame's top border)
and one out-port per inside node feeding the outside (on the bottom border). The phases run
in order on integer-indexed lists: cycle breaking -> ranking -> long-edge dummies -> crossing
reduction -> coordinates -> routing. Everything here is in "TB space" (flow along +y); the
engine rotates the result for other directions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnviz.layout.layered.cycles import find_back_edges
from nnviz.layout.layered.ordering import dfs_order, reduce_crossings
from nnviz.layout.layered.position import assign_x
from nnviz.layout.layered.ranking import assign_ranks

Point = tuple[float, float]


@dataclass
class LevelInput:
    widths: list[float]  # per item
    heights: list[float]
    n_in: int = 0  # in-ports, vertex ids n .. n+n_in-1
    n_out: int = 0  # out-ports, vertex ids n+n_in .. n+n_in+n_out-1
    # (src vertex, dst vertex, attach offset at src, attach offset at dst, spreadable dst)
    edges: list[tuple[int, int, float, float]] = field(default_factory=list)
    spread: list[bool] = field(default_factory=list)  # per item: spread incoming edges
    framed: bool = False
    pad: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # top, right, bottom, left
    min_size: tuple[float, float] = (0.0, 0.0)
    node_sep: float = 24.0
    rank_sep: float = 36.0
    edge_sep: float = 10.0

    def signature(self) -> tuple:
        """Hashable identity: two levels with equal signatures get identical layouts."""
        return (tuple(round(w, 2) for w in self.widths), tuple(round(h, 2) for h in self.heights),
                self.n_in, self.n_out,
                tuple((s, d, round(a, 2), round(b, 2)) for s, d, a, b in self.edges),
                tuple(self.spread), self.framed, self.pad, self.min_size)


@dataclass
class LevelResult:
    width: float
    height: float
    cx: list[float]  # item centres, relative to the level's top-left corner
    cy: list[float]
    port_x: list[float]  # in-ports then out-ports, relative to the left border
    paths: list[list[Point]]  # one polyline per input edge, from its source to its target
    crossings: int = 0


def solve_level(inp: LevelInput, budget_scale: float = 1.0) -> LevelResult:
    n = len(inp.widths)
    n_ports = inp.n_in + inp.n_out
    nbase = n + n_ports
    edges = inp.edges
    # ---- cycle breaking + ranking on item-item edges -------------------------------------
    item_edges: list[tuple[int, int]] = []
    item_eidx: list[int] = []
    for i, (s, d, _, _) in enumerate(edges):
        if s < n and d < n and s != d:
            item_edges.append((s, d))
            item_eidx.append(i)
    back = find_back_edges(n, item_edges)
    reversed_ = [False] * len(edges)
    for k, b in enumerate(back):
        if b:
            reversed_[item_eidx[k]] = True
    oriented = [(d, s) if b else (s, d) for (s, d), b in zip(item_edges, back)]
    rank = assign_ranks(n, oriented) + [0] * n_ports
    if inp.framed:
        top = 1
        max_r = max(rank[:n], default=0)
        for v in range(n):
            rank[v] += top
        for v in range(n, n + inp.n_in):
            rank[v] = 0
        for v in range(n + inp.n_in, nbase):
            rank[v] = max_r + 2
        nlayers = max_r + 3
    else:
        nlayers = max(rank[:n], default=0) + 1

    # ---- long-edge dummies ---------------------------------------------------------------
    width = list(inp.widths) + [0.0] * n_ports
    height = list(inp.heights) + [0.0] * n_ports
    dummy = [False] * n + [True] * n_ports
    vrank = list(rank)
    up: list[list[int]] = [[] for _ in range(nbase)]
    down: list[list[int]] = [[] for _ in range(nbase)]
    up_off: list[list[tuple[float, float]]] = [[] for _ in range(nbase)]
    down_off: list[list[tuple[float, float]]] = [[] for _ in range(nbase)]
    chains: list[list[int]] = []
    chain_off: list[tuple[float, float]] = []
    for i, (s, d, so, do) in enumerate(edges):
        if s == d:
            chains.append([])
            chain_off.append((0.0, 0.0))
            continue
        a, b, ao, bo = (d, s, do, so) if reversed_[i] else (s, d, so, do)
        if vrank[a] == vrank[b]:  # cannot happen after ranking; keep the drawing sane anyway
            chains.append([a, b])
            chain_off.append((ao, bo))
            continue
        chain = [a]
        for r in range(vrank[a] + 1, vrank[b]):
            v = len(vrank)
            vrank.append(r)
            width.append(0.0)
            height.append(0.0)
            dummy.append(True)
            up.append([])
            down.append([])
            up_off.append([])
            down_off.append([])
            chain.append(v)
        chain.append(b)
        chains.append(chain)
        chain_off.append((ao, bo))
        last = len(chain) - 2
        for k in range(len(chain) - 1):
            p, q = chain[k], chain[k + 1]
            op = ao if k == 0 else 0.0
            oq = bo if k == last else 0.0
            down[p].append(q)
            down_off[p].append((oq, op))
            up[q].append(p)
            up_off[q].append((op, oq))
    nv = len(vrank)
    # ---- crossing reduction ----------------------------------------------------------------
    roots = list(range(n, n + inp.n_in)) + [v for v in range(n) if not up[v]]
    layers = dfs_order(nv, vrank, nlayers, down, roots)
    nseg = sum(len(x) for x in down)

    def frac(offs: list[list[tuple[float, float]]], nbrs: list[list[int]]):
        out = []
        for v in range(nv):
            out.append([0.9 * o[0] / width[u] if width[u] > 0 else 0.0
                        for u, o in zip(nbrs[v], offs[v])])
        return out

    has_off = any(so or do for _, _, so, do in edges)
    budget = int((40 * nseg + 20000) * budget_scale)
    layers = reduce_crossings(layers, up, down, nseg,
                              frac(up_off, up) if has_off else None,
                              frac(down_off, down) if has_off else None, budget=budget)
    # ---- coordinates ------------------------------------------------------------------------
    bend = [v >= nbase for v in range(nv)]
    x = assign_x(layers, up, down, up_off, down_off, width, dummy, inp.node_sep, inp.edge_sep,
                 bend)
    pad_t, pad_r, pad_b, pad_l = inp.pad
    layer_h = [max((height[v] for v in layer), default=0.0) for layer in layers]
    layer_top = [0.0] * nlayers
    cursor = 0.0
    for li in range(nlayers):
        if inp.framed and li == 1:
            cursor = pad_t
        elif inp.framed and li == nlayers - 1:
            cursor = cursor - inp.rank_sep + pad_b
        layer_top[li] = cursor
        cursor += layer_h[li] + inp.rank_sep
    total_h = layer_top[-1] + layer_h[-1] if nlayers else 0.0
    if inp.framed and total_h < inp.min_size[1]:
        layer_top[-1] += inp.min_size[1] - total_h
        total_h = inp.min_size[1]
    lo = min((x[v] - width[v] / 2 for v in range(nv)), default=0.0)
    hi = max((x[v] + width[v] / 2 for v in range(nv)), default=0.0)
    left = lo - pad_l
    total_w = hi + pad_r - left
    if total_w < inp.min_size[0]:
        extra = inp.min_size[0] - total_w
        left -= extra / 2
        total_w = inp.min_size[0]
    xs = [xv - left for xv in x]
    ys = [layer_top[vrank[v]] + layer_h[vrank[v]] / 2 for v in range(nv)]

    # ---- routing: polylines through the layer bands ------------------------------------------
    # Spread several incoming edges along a box's top border, keeping the one that comes
    # from most nearly straight above at the centre (the trunk stays straight).
    dst_off: dict[int, float] = {}
    incoming: dict[int, list[tuple[float, int]]] = {}
    for i, chain in enumerate(chains):
        if len(chain) >= 2 and chain[-1] < n and inp.spread[chain[-1]]:
            incoming.setdefault(chain[-1], []).append((xs[chain[-2]], i))
    for v, lst in incoming.items():
        if len(lst) < 2:
            continue
        lst.sort()
        k = len(lst)
        j = min(range(k), key=lambda t: (abs(lst[t][0] - xs[v]), t))
        step = min(14.0, max(4.0, (width[v] - 16) / max(1, k - 1)))
        lim = max(0.0, width[v] / 2 - 6)
        for t, (_, ei) in enumerate(lst):
            dst_off[ei] = max(-lim, min(lim, (t - j) * step))
    paths: list[list[Point]] = []
    for i, chain in enumerate(chains):
        if len(chain) < 2:
            paths.append([])
            continue
        ao, bo = chain_off[i]
        if i in dst_off:
            bo = dst_off[i]
        a, b = chain[0], chain[-1]
        pts: list[Point] = []
        ax = xs[a] + ao
        ay = ys[a] + height[a] / 2
        pts.append((ax, ay))
        ra = vrank[a]
        band_bottom = layer_top[ra] + layer_h[ra]
        if ay < band_bottom - 0.5:
            pts.append((ax, band_bottom))
        for v in chain[1:-1]:
            r = vrank[v]
            pts.append((xs[v], layer_top[r]))
            if layer_h[r] > 0:
                pts.append((xs[v], layer_top[r] + layer_h[r]))
        bx = xs[b] + bo
        by = ys[b] - height[b] / 2
        rb = vrank[b]
        if layer_top[rb] < by - 0.5:
            pts.append((bx, layer_top[rb]))
        pts.append((bx, by))
        if reversed_[i]:
            pts.reverse()
        paths.append(pts)
    port_x = [xs[v] for v in range(n, nbase)]
    return LevelResult(total_w, total_h, xs[:n], ys[:n], port_x, paths)
