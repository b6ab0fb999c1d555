"""Phases 1-2 for one level: cycle breaking and layer assignment of its items.

Input: a :class:`~nnviz.layout.layered.level.LevelInput`. Output: :class:`Ranked`, the
layer of every vertex (items, then ports), how many layers each item spans, which input
edges were reversed to break cycles, and the number of layers. Ports of a framed level sit
in the first (in-ports) and last (out-ports) layer; reference stubs sit right above their
first consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnviz.layout.layered.cycles import find_back_edges
from nnviz.layout.layered.problem import LevelInput
from nnviz.layout.layered.ranking import (
    assign_ranks,
    main_vertices,
    settle_chains,
    settle_side_graphs,
    topo_order,
)


@dataclass
class Ranked:
    rank: list[int]  # per vertex (items, then in-ports, then out-ports)
    span: list[int]  # per item: how many layers it occupies (tall laid-out groups)
    reversed_: list[bool]  # per input edge: reversed to break a cycle (routed in a lane)
    nlayers: int
    lifted: bool = False  # a side graph was lifted to narrower layers (settle_side_graphs)


def item_spans(inp: LevelInput, no_span: frozenset[int]) -> list[int]:
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


def rank_level(inp: LevelInput, no_span: frozenset[int], lift: bool = True) -> Ranked:
    n = len(inp.widths)
    edges = inp.edges
    n_ports = inp.n_in + inp.n_out
    nbase = n + n_ports
    span = item_spans(inp, no_span)
    if sum(span) - n > 2 * (n + len(edges)) + 64:
        # a chain of tall blocks with nothing beside them: fillers would only cost time
        span = [1] * n
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
    anchored = [False] * n  # fed by an in-port: not a free source (keeps its place on top)
    for s_, d_, _, _ in edges:
        if s_ >= n and d_ < n:
            anchored[d_] = True
    rank = assign_ranks(n, oriented, min_len=[span[a] for a, _ in oriented],
                        anchored=anchored) + [0] * n_ports
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
    # side chains to their narrowest layers: only plain one-layer items whose every edge is
    # an item edge (a port edge, a stub or a tall item pins an item where it is)
    movable = [span[v] == 1 and not is_aux[v] for v in range(n)]
    for s_, d_, _, _ in edges:
        for v in (s_, d_):
            if v < n and (s_ >= n or d_ >= n or s_ == d_):
                movable[v] = False
    for s_, d_ in oriented:
        if is_aux[s_] or is_aux[d_]:
            movable[s_] = movable[d_] = False
    if n:
        settle_chains(rank, oriented, inp.widths, inp.node_sep, movable, span)
    lifted = False
    if n and lift:
        # side graphs hanging side by side in the widest layers go up, one after another
        succ: list[list[int]] = [[] for _ in range(n)]
        npred = [0] * n
        for s_, d_ in oriented:
            succ[s_].append(d_)
            npred[d_] += 1
        main = main_vertices(n, oriented, [span[a] for a, _ in oriented], anchored,
                             topo_order(n, succ, npred))
        lifted = settle_side_graphs(rank, oriented, inp.widths, inp.node_sep, inp.edge_sep,
                                    movable, main, span)
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
    return Ranked(rank, span, reversed_, nlayers, lifted)
