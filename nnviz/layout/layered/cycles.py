"""Phase 1: cycle breaking.

Neural-network graphs are DAGs, but bad files and loops folded from subgraphs are not, and a
parent level of the compound layout can see a cycle between two groups (a -> X -> a). An
iterative DFS in a deterministic start order marks back edges; layering then treats them as
reversed and routing draws them against the flow.
"""

from __future__ import annotations


def find_back_edges(n: int, edges: list[tuple[int, int]]) -> list[bool]:
    """Flags, one per edge: True for the edges to reverse so that the graph becomes acyclic.

    DFS starts from sources first (in index order), then from any node left unvisited, so a
    chain in a cycle keeps its first edges pointing "down" the way the file lists them.
    Self-loops are flagged too (the caller drops them from layering).
    """
    out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    indeg = [0] * n
    for i, (s, d) in enumerate(edges):
        out[s].append((d, i))
        indeg[d] += 1
    back = [False] * len(edges)
    state = [0] * n  # 0 new, 1 on stack, 2 done
    starts = [v for v in range(n) if indeg[v] == 0] + list(range(n))
    for root in starts:
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:
            v, k = stack[-1]
            nbrs = out[v]
            if k < len(nbrs):
                stack[-1] = (v, k + 1)
                w, ei = nbrs[k]
                if state[w] == 1:
                    back[ei] = True
                elif state[w] == 0:
                    state[w] = 1
                    stack.append((w, 0))
            else:
                state[v] = 2
                stack.pop()
    return back
