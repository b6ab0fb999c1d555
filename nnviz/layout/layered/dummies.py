"""Phase 3: the proper layered graph — long edges split into one dummy per layer crossed.

Input: the level's items and edges with their layers (:class:`~.level_rank.Ranked`).
Output: :class:`Proper`, flat per-vertex arrays over items, ports, fillers (a tall item is
a head vertex plus width-only fillers in the layers below it) and long-edge dummies, with
up/down adjacency (and the attach offsets of each adjacency), plus, per input edge, the
vertex chain it is routed through. Back edges (reversed to break cycles) get no chain: they
are routed in lanes beside the content.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnviz.layout.layered.level_rank import Ranked
from nnviz.layout.layered.problem import LevelInput


@dataclass
class Proper:
    vrank: list[int]  # layer of every vertex
    width: list[float]
    height: list[float]
    dummy: list[bool]  # ports and long-edge dummies (no box)
    up: list[list[int]]  # neighbours in the layer above / below
    down: list[list[int]]
    up_off: list[list[tuple[float, float]]]  # (offset at this end, at the other end)
    down_off: list[list[tuple[float, float]]]
    tail: list[int]  # per vertex: its last layer's vertex (a tall item's last filler)
    fillers: list[tuple[int, int]]  # (filler, item)
    chains: list[list[int]]  # per input edge: routing chain source, dummies..., target
    chain_off: list[tuple[float, float]]  # per input edge: attach offsets at both ends

    @property
    def nv(self) -> int:
        return len(self.vrank)

    def add_vertex(self, rank: int, width: float, height: float, dummy: bool) -> int:
        v = len(self.vrank)
        self.vrank.append(rank)
        self.width.append(width)
        self.height.append(height)
        self.dummy.append(dummy)
        self.up.append([])
        self.down.append([])
        self.up_off.append([])
        self.down_off.append([])
        return v

    def link(self, p: int, q: int, op: float, oq: float) -> None:
        """Adjacency p (layer r) -> q (layer r + 1), attached at offsets op / oq."""
        self.down[p].append(q)
        self.down_off[p].append((oq, op))
        self.up[q].append(p)
        self.up_off[q].append((op, oq))


def split_long_edges(inp: LevelInput, ranked: Ranked) -> Proper:
    n = len(inp.widths)
    nbase = n + inp.n_in + inp.n_out
    rank, span = ranked.rank, ranked.span
    pg = Proper(vrank=list(rank), width=list(inp.widths) + [0.0] * (nbase - n),
                height=list(inp.heights) + [0.0] * (nbase - n),
                dummy=[False] * n + [True] * (nbase - n),
                up=[[] for _ in range(nbase)], down=[[] for _ in range(nbase)],
                up_off=[[] for _ in range(nbase)], down_off=[[] for _ in range(nbase)],
                tail=list(range(nbase)), fillers=[], chains=[], chain_off=[])
    for v in range(n):
        prev = v
        for r in range(rank[v] + 1, rank[v] + span[v]):
            f = pg.add_vertex(r, pg.width[v], 0.0, False)
            pg.link(prev, f, 0.0, 0.0)
            pg.fillers.append((f, v))
            prev = f
        pg.tail[v] = prev
    # an edge between two copies of one block aligns box centres (BK offsets 0), so a stack
    # of blocks whose input and output ports differ in x does not drift into a staircase;
    # routing keeps the real offsets
    cls = inp.item_class or [-1] * n
    vrank, tail = pg.vrank, pg.tail
    for i, (s, d, so, do) in enumerate(inp.edges):
        if s == d or ranked.reversed_[i]:  # back edges are routed around everything (lanes)
            pg.chains.append([])
            pg.chain_off.append((0.0, 0.0))
            continue
        a, b, ao, bo = s, d, so, do
        if a < n and b < n and cls[a] >= 0 and cls[a] == cls[b]:
            kao, kbo = 0.0, 0.0
        else:
            kao, kbo = ao, bo
        ta = tail[a]
        if vrank[ta] >= vrank[b]:  # cannot happen after ranking; keep the drawing sane anyway
            pg.chains.append([a, b])
            pg.chain_off.append((ao, bo))
            continue
        # routing chain: a, dummies, b; adjacency chain: a's last layer (tail), dummies, b
        chain = [a]
        for r in range(vrank[ta] + 1, vrank[b]):
            chain.append(pg.add_vertex(r, 0.0, 0.0, True))
        chain.append(b)
        pg.chains.append(chain)
        pg.chain_off.append((ao, bo))
        adj = [ta] + chain[1:]
        last = len(adj) - 2
        for k in range(len(adj) - 1):
            pg.link(adj[k], adj[k + 1], kao if k == 0 else 0.0, kbo if k == last else 0.0)
    return pg
