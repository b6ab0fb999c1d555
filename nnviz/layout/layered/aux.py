"""High-fan-out auxiliary inputs (DESIGN.md, "Layout at scale").

A tensor that feeds many consumers spread over many layers (an attention mask, position ids,
rotary tables, a shared constant) would be drawn as edges spanning the whole graph; long-edge
dummies then grow as layers^2 and the drawing becomes a fan of lines. Such edges are taken
out of layering and crossing reduction: the first consumer keeps the real edge, every other
consumer gets a small reference stub (NodeBox.shape = "stub") right above it.

The rule is structural, never by name: at least ``MIN_FANOUT`` distinct consumers whose
longest-path ranks span at least ``MIN_SPAN`` layers.
"""

from __future__ import annotations

from nnviz.ir import Graph

MIN_FANOUT = 3
MIN_SPAN = 6


def longest_path_ranks(graph: Graph, order: list[str]) -> dict[str, int]:
    succ = graph.successors()
    rank = dict.fromkeys(order, 0)
    for u in order:
        r = rank[u] + 1
        for v in succ[u]:
            if rank[v] < r:
                rank[v] = r
    return rank


def find_aux_edges(graph: Graph, order: list[str] | None = None) -> set[tuple[str, str, str]]:
    """(src, dst, tensor) edges to draw as stubs next to ``dst`` instead of as lines."""
    order = order or graph.topological_order()
    consumers = graph.consumers()
    producers = graph.producers()
    rank: dict[str, int] | None = None
    pos: dict[str, int] = {}
    out: set[tuple[str, str, str]] = set()
    for t, cons in consumers.items():
        src = producers.get(t)
        if src is None or len(cons) < MIN_FANOUT:
            continue
        if rank is None:
            rank = longest_path_ranks(graph, order)
            pos = {nid: i for i, nid in enumerate(order)}
        rs = [rank[c] for c in cons if c != src]
        if len(rs) < MIN_FANOUT or max(rs) - min(rs) < MIN_SPAN:
            continue
        first = min((c for c in cons if c != src), key=lambda c: (rank[c], pos[c]))
        for c in cons:
            if c != src and c != first:
                out.add((src, c, t))
    return out
