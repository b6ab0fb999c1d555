"""High-fan-out auxiliary inputs (DESIGN.md, "Layout at scale").

A tensor that feeds many consumers spread over many layers (an attention mask, position ids,
rotary tables, a shared constant) would be drawn as edges spanning the whole graph; long-edge
dummies then grow as layers^2 and the drawing becomes a fan of lines. Such edges are taken
out of layering and crossing reduction: the first consumer keeps the real edge, every other
consumer gets a small reference stub (NodeBox.shape = "stub") right above it.

The rule is structural, never by name: at least ``MIN_FANOUT`` distinct consumers whose
longest-path ranks span at least ``MIN_SPAN`` layers, at least ``MIN_FANOUT - 1`` of them
``MIN_SPAN`` or more ranks below the first consumer.
"""

from __future__ import annotations

from nnviz.layout.layered.ranking import topo_order

MIN_FANOUT = 3
MIN_SPAN = 6


def find_aux_edges(n: int, edges: list[tuple[int, int, str]]) -> set[int]:
    """Indices into ``edges`` ((src, dst, tensor), node indices) to draw as stubs."""
    by_tensor: dict[tuple[int, str], list[int]] = {}
    for i, (s, _d, t) in enumerate(edges):
        by_tensor.setdefault((s, t), []).append(i)
    candidates = [idx for idx in by_tensor.values() if len(idx) >= MIN_FANOUT]
    if not candidates:
        return set()
    # longest-path ranks on the forward (index-increasing DFS-safe) graph
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for s, d, _ in edges:
        if s != d:
            succ[s].append(d)
            indeg[d] += 1
    order = topo_order(n, succ, indeg)
    pos = [0] * n
    for i, v in enumerate(order):
        pos[v] = i
    rank = [0] * n
    for u in order:
        r = rank[u] + 1
        for v in succ[u]:
            if pos[v] > pos[u] and rank[v] < r:
                rank[v] = r
    out: set[int] = set()
    for idx in candidates:
        cons = [i for i in idx if edges[i][1] != edges[i][0]]
        if len(cons) < MIN_FANOUT:
            continue
        rs = sorted(rank[edges[i][1]] for i in cons)
        if rs[-1] - rs[0] < MIN_SPAN:
            continue
        # A residual stream read by a norm's Pow and Div and, far below, by the residual Add
        # has one far consumer and stays an edge (the skip connection is the structure of
        # the drawing); a mask or position table read by every later block has many.
        far = sum(1 for r in rs if r - rs[0] >= MIN_SPAN)
        if far < MIN_FANOUT - 1:
            continue
        first = min(cons, key=lambda i: (rank[edges[i][1]], pos[edges[i][1]], i))
        out.update(i for i in cons if i != first)
    return out
