"""One flat sub-problem of the compound layout: the items of one group (or of the top level).

Items are real boxes (nodes, stubs, collapsed or already laid-out child groups). A framed
group also has ports: one in-port per outside source feeding it (on the frame's top border)
and one out-port per inside node feeding the outside (on the bottom border). The phases run
in order on integer-indexed lists: cycle breaking -> ranking -> long-edge dummies -> crossing
reduction -> coordinates -> routing. Everything here is in "TB space" (flow along +y); the
engine rotates the result for other directions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nnviz.layout.layered.cycles import find_back_edges
from nnviz.layout.layered.ordering import dfs_order, reduce_crossings_counted
from nnviz.layout.layered.position import assign_x
from nnviz.layout.layered.ranking import assign_ranks

Point = tuple[float, float]

# up to this many layer-to-layer segments a level with crossings left gets a second start
# (it pays off on small levels; on big ones it doubled the ordering time for no gain)
MULTI_START_SEGMENTS = 5000


@dataclass
class LevelInput:
    widths: list[float]  # per item
    heights: list[float]
    n_in: int = 0  # in-ports, vertex ids n .. n+n_in-1
    n_out: int = 0  # out-ports, vertex ids n+n_in .. n+n_in+n_out-1
    # (src vertex, dst vertex, attach offset at src, attach offset at dst)
    edges: list[tuple[int, int, float, float]] = field(default_factory=list)
    spread: list[bool] = field(default_factory=list)  # per item: a node (spread incoming edges)
    # per item: a laid-out group (tall items span several layers; group -> group edges align
    # the boxes' centres so a chain of blocks is one column instead of a staircase)
    is_group: list[bool] = field(default_factory=list)
    # per item: which distinct child layout it is (-1 for nodes); two equal classes joined by
    # an edge are repeated blocks, stacked centre on centre
    item_class: list[int] = field(default_factory=list)
    # per item: a reference stub of a high fan-out source (aux.py); placed last, in leftover
    # space right above its consumer, so it never pushes the trunk sideways
    aux: list[bool] = field(default_factory=list)
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
                tuple(self.spread), tuple(self.is_group), tuple(self.item_class),
                tuple(self.aux),
                self.framed, self.pad,
                self.min_size)


@dataclass
class LevelResult:
    width: float
    height: float
    cx: list[float]  # item centres, relative to the level's top-left corner
    cy: list[float]
    port_x: list[float]  # in-ports then out-ports, relative to the left border
    paths: list[list[Point]]  # one polyline per input edge, from its source to its target
    crossings: int = 0


def _spans(inp: LevelInput, no_span: frozenset[int]) -> list[int]:
    """Layers each item occupies: a laid-out group much taller than a node spans several, so
    nodes beside it (a ResNet's main path next to its downsample branch) keep their rhythm
    instead of waiting for one giant layer."""
    n = len(inp.widths)
    plain = sorted(h for h, g in zip(inp.heights, inp.is_group) if not g)
    typical = plain[len(plain) // 2] if plain else 40.0
    pitch = typical + inp.rank_sep
    out = [1] * n
    for v in range(n):
        if inp.is_group and inp.is_group[v] and v not in no_span:
            out[v] = max(1, int((inp.heights[v] + inp.rank_sep) // pitch))
    return out


def solve_level(inp: LevelInput, budget_scale: float = 1.0,
                no_span: frozenset[int] = frozenset(),
                phase: Callable[[str], None] | None = None) -> LevelResult:
    """Lay out one level; ``phase(name)`` is called as each phase starts (progress)."""
    say = phase or (lambda name: None)
    n = len(inp.widths)
    span = _spans(inp, no_span)
    if sum(span) - n > 2 * (n + len(inp.edges)) + 64:
        # a chain of tall blocks with nothing beside them: fillers would only cost time
        span = [1] * n
    n_ports = inp.n_in + inp.n_out
    nbase = n + n_ports
    edges = inp.edges
    # ---- cycle breaking + ranking on item-item edges -------------------------------------
    say("ranking")
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
    if any(back):  # back-edge lanes cross the gaps between layers, which tall items span
        span = [1] * n
    oriented = [(d, s) if b else (s, d) for (s, d), b in zip(item_edges, back)]
    rank = assign_ranks(n, oriented, min_len=[span[a] for a, _ in oriented]) + [0] * n_ports
    is_aux = inp.aux or [False] * n
    if any(is_aux):
        # a stub sits in the layer right above its consumer (the local moves in ranking get
        # there too, but only within their pass budget)
        first_dst: dict[int, int] = {}
        for s_, d_ in oriented:
            if is_aux[s_] and not is_aux[d_]:
                first_dst[s_] = min(first_dst.get(s_, 1 << 30), rank[d_] - 1)
        for v, r in first_dst.items():
            if r >= 0:
                rank[v] = r
    if inp.framed:
        top = 1
        max_r = max((rank[v] + span[v] - 1 for v in range(n)), default=0)
        for v in range(n):
            rank[v] += top
        for v in range(n, n + inp.n_in):
            rank[v] = 0
        for v in range(n + inp.n_in, nbase):
            rank[v] = max_r + 2
        nlayers = max_r + 3
    else:
        nlayers = max((rank[v] + span[v] - 1 for v in range(n)), default=0) + 1

    # ---- long-edge dummies ---------------------------------------------------------------
    width = list(inp.widths) + [0.0] * n_ports
    height = list(inp.heights) + [0.0] * n_ports
    dummy = [False] * n + [True] * n_ports
    vrank = list(rank)
    up: list[list[int]] = [[] for _ in range(nbase)]
    down: list[list[int]] = [[] for _ in range(nbase)]
    up_off: list[list[tuple[float, float]]] = [[] for _ in range(nbase)]
    down_off: list[list[tuple[float, float]]] = [[] for _ in range(nbase)]
    # a tall item is a head vertex plus fillers (its width, no height) in the layers below
    tail = list(range(nbase))
    fillers: list[tuple[int, int]] = []  # (filler, item)
    for v in range(n):
        prev = v
        for r in range(rank[v] + 1, rank[v] + span[v]):
            f = len(vrank)
            vrank.append(r)
            width.append(width[v])
            height.append(0.0)
            dummy.append(False)
            up.append([prev])
            down.append([])
            up_off.append([(0.0, 0.0)])
            down_off.append([])
            down[prev].append(f)
            down_off[prev].append((0.0, 0.0))
            fillers.append((f, v))
            prev = f
        tail[v] = prev
    # an edge between two copies of one block aligns box centres (BK offsets 0), so a stack
    # of blocks whose input and output ports differ in x does not drift into a staircase;
    # routing keeps the real offsets
    cls = inp.item_class or [-1] * n
    chains: list[list[int]] = []
    chain_off: list[tuple[float, float]] = []
    for i, (s, d, so, do) in enumerate(edges):
        if s == d or reversed_[i]:  # back edges are routed around everything (lanes, below)
            chains.append([])
            chain_off.append((0.0, 0.0))
            continue
        a, b, ao, bo = s, d, so, do
        if a < n and b < n and cls[a] >= 0 and cls[a] == cls[b]:
            kao, kbo = 0.0, 0.0
        else:
            kao, kbo = ao, bo
        ta = tail[a]
        if vrank[ta] >= vrank[b]:  # cannot happen after ranking; keep the drawing sane anyway
            chains.append([a, b])
            chain_off.append((ao, bo))
            continue
        # routing chain: a, dummies, b; adjacency chain: a's last layer (tail), dummies, b
        chain = [a]
        for r in range(vrank[ta] + 1, vrank[b]):
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
        adj = [ta] + chain[1:]
        last = len(adj) - 2
        for k in range(len(adj) - 1):
            p, q = adj[k], adj[k + 1]
            op = kao if k == 0 else 0.0
            oq = kbo if k == last else 0.0
            down[p].append(q)
            down_off[p].append((oq, op))
            up[q].append(p)
            up_off[q].append((op, oq))
    nv = len(vrank)
    # ---- crossing reduction ----------------------------------------------------------------
    say("crossing reduction")
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
    fup = frac(up_off, up) if has_off else None
    fdown = frac(down_off, down) if has_off else None
    layers, c1 = reduce_crossings_counted(layers, up, down, nseg, fup, fdown, budget=budget)
    if c1 and nseg <= MULTI_START_SEGMENTS:
        # Sweeps only reach a local optimum of their start. A second start from the DFS
        # that takes the last successor first puts skip edges on the other side of the
        # trunk, which frees the way for a long fan-out edge (an attention mask drawn
        # without stubs: 6 -> 0 crossings on a 6-block GPT). Graphs that are already
        # crossing-free (the usual case) pay nothing.
        alt = dfs_order(nv, vrank, nlayers, [d[::-1] for d in down], roots)
        alt, c2 = reduce_crossings_counted(alt, up, down, nseg, fup, fdown, budget=budget)
        if c2 < c1:
            layers = alt
    # ---- coordinates ------------------------------------------------------------------------
    say("coordinates")
    bend = [dummy[v] and v >= nbase for v in range(nv)]  # long-edge dummies only
    free = [v < n and is_aux[v] for v in range(nv)]
    x = assign_x(layers, up, down, up_off, down_off, width, dummy, inp.node_sep, inp.edge_sep,
                 bend, free)
    bad = set(v for f, v in fillers if abs(x[f] - x[v]) > 0.01)
    if fillers:
        # an edge bending across a gap that a tall item spans would cut through that item
        own = {f: v for f, v in fillers}
        cover: dict[int, list[int]] = {}  # gap below layer r -> tall items spanning it
        for v in range(n):
            for r in range(rank[v], rank[v] + span[v] - 1):
                cover.setdefault(r, []).append(v)
        for q in range(nv):
            tall_here = cover.get(vrank[q] - 1)
            if not tall_here:
                continue
            for p_, (op, oq) in zip(up[q], up_off[q]):
                if own.get(q, -1) == p_ or own.get(q) == own.get(p_, -2):
                    continue
                a_, b_ = sorted((x[p_] + op, x[q] + oq))
                for v in tall_here:
                    if v != p_ and a_ < x[v] + width[v] / 2 and b_ > x[v] - width[v] / 2:
                        bad.add(v)
    if bad:  # lay those items out in one layer instead
        return solve_level(inp, budget_scale, no_span | frozenset(bad), phase)
    pad_t, pad_r, pad_b, pad_l = inp.pad
    tall_end: dict[int, list[int]] = {}  # last layer -> tall items ending there
    for v in range(n):
        if span[v] > 1:
            tall_end.setdefault(rank[v] + span[v] - 1, []).append(v)
    layer_h = [max((height[v] for v in layer if v >= n or span[v] == 1), default=0.0)
               for layer in layers]
    layer_top = [0.0] * nlayers
    cursor = 0.0
    for li in range(nlayers):
        if inp.framed and li == 1:
            cursor = pad_t
        elif inp.framed and li == nlayers - 1:
            cursor = cursor - inp.rank_sep + pad_b
        layer_top[li] = cursor
        for v in tall_end.get(li, ()):  # the band must reach the tall item's bottom
            layer_h[li] = max(layer_h[li], layer_top[rank[v]] + height[v] - cursor)
        cursor += layer_h[li] + inp.rank_sep
    total_h = layer_top[-1] + layer_h[-1] if nlayers else 0.0
    if inp.framed and total_h < inp.min_size[1]:
        layer_top[-1] += inp.min_size[1] - total_h
        total_h = inp.min_size[1]
    lo = min((x[v] - width[v] / 2 for v in range(nv)), default=0.0)
    hi = max((x[v] + width[v] / 2 for v in range(nv)), default=0.0)
    # back edges (cycles) run in lanes right of the content: down out of the source, across
    # the free gap under its layer, up the lane, across the gap above the target, down in
    back = [i for i in range(len(edges)) if reversed_[i] and edges[i][0] != edges[i][1]]
    lane_x = [hi + inp.node_sep / 2 + k * inp.edge_sep for k in range(len(back))]
    if back:
        hi = lane_x[-1] + inp.node_sep / 2
    left = lo - pad_l
    total_w = hi + pad_r - left
    if total_w < inp.min_size[0]:
        extra = inp.min_size[0] - total_w
        left -= extra / 2
        total_w = inp.min_size[0]
    xs = [xv - left for xv in x]
    ys = [layer_top[vrank[v]] + layer_h[vrank[v]] / 2 for v in range(nv)]
    for v in range(n):
        if span[v] > 1:  # tall items hang from the top of their first layer
            ys[v] = layer_top[rank[v]] + height[v] / 2

    # ---- routing: polylines through the layer bands ------------------------------------------
    say("routing")
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
        ra = vrank[tail[a]]
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
        paths.append(pts)
    for k, i in enumerate(back):
        s_, d_, so, do = edges[i]
        lx = lane_x[k] - left
        sx, dx = xs[s_] + so, xs[d_] + do
        r_s = vrank[tail[s_]]
        below = layer_top[r_s] + layer_h[r_s] + min(inp.rank_sep / 2, 12.0)
        r_d = vrank[d_]
        above = layer_top[r_d] - min(inp.rank_sep / 2, 12.0 if r_d == 0 else inp.rank_sep / 2)
        paths[i] = [(sx, ys[s_] + height[s_] / 2), (sx, below), (lx, below), (lx, above),
                    (dx, above), (dx, ys[d_] - height[d_] / 2)]
    port_x = [xs[v] for v in range(n, nbase)]
    return LevelResult(total_w, total_h, xs[:n], ys[:n], port_x, paths)
