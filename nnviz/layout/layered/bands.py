"""Phase 5b for one level: vertical placement and the level's extent.

After x coordinates (position.py), every layer becomes a horizontal band as tall as its
tallest box; tall items (laid-out groups spanning several layers) hang from the top of
their first band and stretch the band they end in. Framed levels reserve their padding
(and the title band) around the content; back edges get lanes right of the content.
Output: :class:`Geometry` with every vertex's centre relative to the level's top-left.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnviz.layout.layered.dummies import Proper
from nnviz.layout.layered.level_rank import Ranked
from nnviz.layout.layered.problem import LevelInput


@dataclass
class Geometry:
    xs: list[float]  # per vertex, relative to the level's left border
    ys: list[float]
    layer_top: list[float]
    layer_h: list[float]
    width: float
    height: float
    left: float  # the x (in position.py's frame) of the level's left border
    back: list[int]  # input edges routed in lanes (cycles), lane k at lane_x[k]
    lane_x: list[float]
    dst_off: dict[int, float]  # input edge -> attach offset at its target (spread_offsets)
    title_extra: float = 0.0  # width + height the frame's title added to its content's


def spread_offsets(inp: LevelInput, pg: Proper, xs: list[float]) -> dict[int, float]:
    """Input edge -> attach offset at its target: several incoming edges are spread along a
    box's top border, the one that comes from most nearly straight above kept at the centre
    (the trunk stays straight). ``xs`` may be shifted by any constant."""
    n = len(inp.widths)
    width = pg.width
    dst_off: dict[int, float] = {}
    incoming: dict[int, list[tuple[float, int]]] = {}
    for i, chain in enumerate(pg.chains):
        if len(chain) >= 2 and chain[-1] < n and inp.spread[chain[-1]]:
            incoming.setdefault(chain[-1], []).append((xs[chain[-2]], i))
    for v, lst in incoming.items():
        if len(lst) < 2:
            # one edge from a narrower box above that lies within this box's width runs
            # straight down into it, off-centre (position.compact may slide a wide box so)
            i = lst[0][1]
            chain = pg.chains[i]
            u = chain[0]
            off = xs[u] + pg.chain_off[i][0] - xs[v]
            if (len(chain) == 2 and u < n and inp.spread[u] and abs(off) > 0.01
                    and abs(off) <= (width[v] - width[u]) / 2 + 0.01):
                dst_off[i] = off
            continue
        lst.sort()
        k = len(lst)
        j = min(range(k), key=lambda t: (abs(lst[t][0] - xs[v]), t))
        step = min(14.0, max(4.0, (width[v] - 16) / max(1, k - 1)))
        lim = max(0.0, width[v] / 2 - 6)
        for t, (_, ei) in enumerate(lst):
            dst_off[ei] = max(-lim, min(lim, (t - j) * step))
    return dst_off


def gap_sizes(inp: LevelInput, pg: Proper, x: list[float], nlayers: int,
              dst_off: dict[int, float]) -> tuple[list[float], list[bool]]:
    """Per layer: the gap below it, by need. Straight arrows need only ``rank_sep_straight``,
    and so does one curve: its sideways run reads as a rounded step, as ELK's orthogonal bends
    do in its 20-px gaps (1.2x that cost ResNet-18 64 px of height, 5% of MobileNetV2's area
    versus ELK's, for no gain in legibility). Each further curve from another source whose
    run overlaps it adds half an ``edge_sep`` (their flat middles would otherwise lie on top
    of each other), up to ``rank_sep``. Also returns, per gap, whether any edge bends in it."""
    hi = inp.rank_sep
    lo = inp.rank_sep_straight if inp.rank_sep_straight > 0 else 0.6 * hi
    one = min(hi, lo)
    run = [0.0] * nlayers  # widest sideways run of an edge in the gap below each layer
    spans: list[list[tuple[float, float, int]]] = [[] for _ in range(nlayers)]
    vrank, tail = pg.vrank, pg.tail
    for i, chain in enumerate(pg.chains):
        if len(chain) < 2:
            continue
        ao, bo = pg.chain_off[i]
        bo = dst_off.get(i, bo)
        a, b = chain[0], chain[-1]
        prev_x, prev_r, prev_v = x[a] + ao, vrank[tail[a]], a
        for v in chain[1:]:
            cur_x = x[b] + bo if v == b else x[v]
            dx = abs(cur_x - prev_x)
            if dx > 0.5:
                for r in range(prev_r, vrank[v]):
                    if dx > run[r]:
                        run[r] = dx
                    spans[r].append((min(prev_x, cur_x), max(prev_x, cur_x), prev_v))
            prev_x, prev_r, prev_v = cur_x, vrank[v], v
    out = []
    for r in range(nlayers):
        need = one
        sp = spans[r]
        if len(sp) > 1:
            need = min(hi, need + 0.5 * inp.edge_sep * (_tracks(sp) - 1))
        out.append(need)
    return out, [d > 0.5 for d in run]


def _tracks(spans: list[tuple[float, float, int]]) -> int:
    """Most sideways runs stacked over one x, counting runs that leave one point once (a
    fan-out shares its start, so its curves do not lie on top of each other's middles)."""
    events = []
    for a, b, src in spans:
        events.append((a, 1, src))
        events.append((b, 0, src))  # at one x, ends before starts
    events.sort()
    live: dict[int, int] = {}
    best = 0
    for _, start, src in events:
        if start:
            live[src] = live.get(src, 0) + 1
            if len(live) > best:
                best = len(live)
        else:
            c = live[src] - 1
            if c:
                live[src] = c
            else:
                del live[src]
    return best


def tall_items_cut(inp: LevelInput, ranked: Ranked, pg: Proper, x: list[float]) -> set[int]:
    """Tall items that would be cut: a filler not under its head, or an edge bending across
    a gap the item spans. The caller lays those out in one layer instead."""
    n = len(inp.widths)
    bad = set(v for f, v in pg.fillers if abs(x[f] - x[v]) > 0.01)
    if not pg.fillers:
        return bad
    rank, span, width = ranked.rank, ranked.span, pg.width
    own = {f: v for f, v in pg.fillers}
    cover: dict[int, list[int]] = {}  # gap below layer r -> tall items spanning it
    for v in range(n):
        for r in range(rank[v], rank[v] + span[v] - 1):
            cover.setdefault(r, []).append(v)
    for q in range(pg.nv):
        tall_here = cover.get(pg.vrank[q] - 1)
        if not tall_here:
            continue
        for p_, (op, oq) in zip(pg.up[q], pg.up_off[q]):
            if own.get(q, -1) == p_ or own.get(q) == own.get(p_, -2):
                continue
            a_, b_ = sorted((x[p_] + op, x[q] + oq))
            for v in tall_here:
                if v != p_ and a_ < x[v] + width[v] / 2 and b_ > x[v] - width[v] / 2:
                    bad.add(v)
    return bad


def place_bands(inp: LevelInput, ranked: Ranked, pg: Proper, layers: list[list[int]],
                x: list[float]) -> Geometry:
    n = len(inp.widths)
    nv = pg.nv
    rank, span, nlayers = ranked.rank, ranked.span, ranked.nlayers
    width, height = pg.width, pg.height
    pad_t, pad_r, pad_b, pad_l = inp.pad
    tall_end: dict[int, list[int]] = {}  # last layer -> tall items ending there
    for v in range(n):
        if span[v] > 1:
            tall_end.setdefault(rank[v] + span[v] - 1, []).append(v)
    layer_h = [max((height[v] for v in layer if v >= n or span[v] == 1), default=0.0)
               for layer in layers]
    edges = inp.edges
    back = [i for i in range(len(edges)) if ranked.reversed_[i] and edges[i][0] != edges[i][1]]
    # A gap that every edge crosses straight down needs only room for the arrow; gaps where
    # edges curve get room for the curve, up to the full rank separation (which back-edge
    # lanes always get)
    gap = [inp.rank_sep] * nlayers
    dst_off = spread_offsets(inp, pg, x)
    need, bent = gap_sizes(inp, pg, x, nlayers, dst_off)
    if 0 < inp.rank_sep_straight < inp.rank_sep and not back:
        gap = list(need)
    framed = inp.framed and nlayers >= 2
    if framed:
        # The port layers span the frame's padding (the title band on the title's side): a
        # port edge runs straight through it, across the title band where title_room keeps the
        # title a free spot, and bends only in a gap of its own below it, by need, so it
        # never runs along the frame's border or through its title (it used to bend inside
        # the padding, a few px from the border, right where the title sits).
        for r in (0, nlayers - 2):
            if not back:
                gap[r] = need[r] if bent[r] else 0.0
        layer_h[0] = pad_t
        layer_h[-1] = pad_b
    layer_top = [0.0] * nlayers
    cursor = 0.0
    for li in range(nlayers):
        layer_top[li] = cursor
        for v in tall_end.get(li, ()):  # the band must reach the tall item's bottom
            layer_h[li] = max(layer_h[li], layer_top[rank[v]] + height[v] - cursor)
        cursor += layer_h[li] + gap[li]
    total_h = layer_top[-1] + layer_h[-1] if nlayers else 0.0
    title_extra = 0.0
    if inp.framed and total_h < inp.min_size[1]:
        title_extra = inp.min_size[1] - total_h
        layer_top[-1] += title_extra
        total_h = inp.min_size[1]
    lo = min((x[v] - width[v] / 2 for v in range(nv)), default=0.0)
    hi = max((x[v] + width[v] / 2 for v in range(nv)), default=0.0)
    # back edges (cycles) run in lanes right of the content
    lane_x = [hi + inp.node_sep / 2 + k * inp.edge_sep for k in range(len(back))]
    if back:
        hi = lane_x[-1] + inp.node_sep / 2
    left = lo - pad_l
    total_w = hi + pad_r - left
    extra = max(0.0, inp.min_size[0] - total_w)  # a title wider than the content
    content_w = total_w
    if framed and inp.title_side and inp.title_w > 0:
        ports = (range(n, n + inp.n_in) if inp.title_side == "top"
                 else range(n + inp.n_in, n + inp.n_in + inp.n_out))
        # the width a wide title adds goes where it leaves the title a spot beside the port
        # edges: centred (as without ports), all on the right or all on the left
        best = None
        for k, share in enumerate((0.5, 0.0, 1.0)):
            lft = left - extra * share
            grow_l, grow_r = title_room([x[v] - lft for v in ports], total_w + extra,
                                        inp.title_w)
            cand = (grow_l + grow_r, k, lft - grow_l, total_w + extra + grow_l + grow_r)
            if best is None or cand < best:
                best = cand
        assert best is not None
        left, total_w = best[2], best[3]
    else:
        left -= extra / 2
        total_w += extra
    title_extra += total_w - content_w
    xs = [xv - left for xv in x]
    ys = [layer_top[pg.vrank[v]] + layer_h[pg.vrank[v]] / 2 for v in range(nv)]
    for v in range(n):
        if span[v] > 1:  # tall items hang from the top of their first layer
            ys[v] = layer_top[rank[v]] + height[v] / 2
    if framed:  # ports sit on the frame's border, at the outer end of their layer
        for v in range(n, n + inp.n_in):
            ys[v] = 0.0
        for v in range(n + inp.n_in, n + inp.n_in + inp.n_out):
            ys[v] = total_h
    return Geometry(xs, ys, layer_top, layer_h, total_w, total_h, left, back, lane_x, dst_off,
                    title_extra)


TITLE_INSET = 6.0  # render/scene.py: a title's patch starts 6 px in from the frame's side
TITLE_CLEAR = 3.5  # and keeps 3 px (+ rounding) from an edge crossing its band


def title_room(port_x: list[float], width: float, title_w: float) -> tuple[float, float]:
    """(extra width on the left, on the right) a frame needs so that its title band has a
    spot ``title_w`` wide that no port edge crosses; (0, 0) when it already has one.

    The spot is sought as the renderer seeks it: from the frame's left, then right of each
    crossing edge. Without one, the frame grows on the side that costs less, so the title
    fits left of the first port or right of the last.
    """
    if not port_x:
        return 0.0, 0.0
    ps = sorted(port_x)
    lo_limit, hi_limit = TITLE_INSET, width - TITLE_INSET
    for start in [lo_limit] + [p + TITLE_CLEAR for p in ps]:
        if start < lo_limit or start + title_w > hi_limit:
            continue
        if not any(p - TITLE_CLEAR < start + title_w and p + TITLE_CLEAR > start for p in ps):
            return 0.0, 0.0
    grow_l = TITLE_INSET + title_w + TITLE_CLEAR - ps[0]
    grow_r = ps[-1] + TITLE_CLEAR + title_w + TITLE_INSET - width
    if grow_r <= grow_l:
        return 0.0, max(0.0, grow_r)
    return max(0.0, grow_l), 0.0
