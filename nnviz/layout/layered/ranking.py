"""Phase 2: layer assignment (ranking).

Longest-path layering from the sources, then budgeted local moves that minimise total edge
length (the network-simplex objective) node by node: a node whose in-degree exceeds its
out-degree moves up to its lowest feasible rank, one with more successors moves down to its
highest feasible rank. This is coordinate descent on the same objective network simplex
solves; on NN graphs (chains, diamonds, skips) it reaches the same optimum for the typical
cases. Then every vertex that no main source reaches hangs as low as it can (the moves of a
whole side graph that network simplex makes and single-node moves cannot): a mask slice, a
position-id computation or a bias graph lands right above its consumer instead of at the
top of the drawing. The number of passes is capped (work budget ~ k * E).
"""

from __future__ import annotations


def topo_order(n: int, succ: list[list[int]], pred_count: list[int]) -> list[int]:
    """Kahn order, ties by index (deterministic). The graph must be acyclic."""
    indeg = list(pred_count)
    order = [v for v in range(n) if indeg[v] == 0]
    i = 0
    while i < len(order):
        v = order[i]
        i += 1
        for w in succ[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                order.append(w)
    if len(order) < n:  # defensive: should not happen after cycle breaking
        seen = set(order)
        order.extend(v for v in range(n) if v not in seen)
    return order


def assign_ranks(n: int, edges: list[tuple[int, int]], max_passes: int = 8,
                 min_len: list[int] | None = None,
                 anchored: list[bool] | None = None) -> list[int]:
    """Ranks (0 = top) for an acyclic edge list; every edge (s, d) gets rank[d] > rank[s].

    ``min_len`` optionally gives a minimum length per edge (default 1). ``anchored`` marks
    vertices fed from outside the edge list (a frame's in-port): they are not free sources.
    """
    if n == 0:
        return []
    lens = min_len or [1] * len(edges)
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    out_e: list[list[int]] = [[] for _ in range(n)]
    in_e: list[list[int]] = [[] for _ in range(n)]
    for i, (s, d) in enumerate(edges):
        succ[s].append(d)
        pred[d].append(s)
        out_e[s].append(i)
        in_e[d].append(i)
    order = topo_order(n, succ, [len(p) for p in pred])
    rank = [0] * n
    for v in order:
        r = rank[v]
        for i in out_e[v]:
            d = edges[i][1]
            if rank[d] < r + lens[i]:
                rank[d] = r + lens[i]
    # Local moves toward the edge-length optimum, sinks-first then sources-first, budgeted.
    rev = order[::-1]
    for p in range(max_passes):
        moved = 0
        for v in (rev if p % 2 == 0 else order):
            ie, oe = in_e[v], out_e[v]
            ni, no = len(ie), len(oe)
            if ni == no:
                continue
            if ni > no:
                lo = max(rank[edges[i][0]] + lens[i] for i in ie)
                if lo < rank[v]:
                    rank[v] = lo
                    moved += 1
            else:
                hi = min(rank[edges[i][1]] - lens[i] for i in oe)
                if hi > rank[v]:
                    rank[v] = hi
                    moved += 1
        if not moved:
            break
    # Hanging side graphs: every vertex that no main source reaches (a source on a longest
    # path, or an item fed through the frame's in-ports) hangs as low as it can, right above
    # where it is consumed. Nothing above it pulls it up, so network simplex puts it there
    # too (the set moves down as one and only its outgoing edges shorten); node-by-node moves
    # cannot: a 1-in-1-out vertex (the Unsqueeze after a Concat of slices) moves nothing, so
    # a recurrent model's twelve slices stood in one 4,000-px row, and T5's position-bucket
    # graphs (a few aranges, then some twenty ops) stood side by side at the top, a
    # 2,500-px-wide drawing that ELK draws 1,800 wide.
    below = [0] * n  # longest path down to a sink
    for v in rev:
        for i in out_e[v]:
            d = edges[i][1]
            if below[d] + lens[i] > below[v]:
                below[v] = below[d] + lens[i]
    top = max(below)
    main = [False] * n
    for v in order:
        ie = in_e[v]
        main[v] = ((anchored is not None and anchored[v]) or (not ie and below[v] == top)
                   or any(main[edges[i][0]] for i in ie))
    for v in rev:
        if not main[v] and out_e[v]:
            rank[v] = min(rank[edges[i][1]] - lens[i] for i in out_e[v])
    low = min(rank)
    if low:
        rank = [r - low for r in rank]
    return rank


def settle_chains(rank: list[int], edges: list[tuple[int, int]], widths: list[float],
                  sep: float, movable: list[bool], span: list[int]) -> None:
    """Slide side chains to the narrowest layers they can take (``rank`` changed in place).

    A chain of one-in-one-out vertices between two fixed ends (a ResNet's downsample, a
    transformer's value path) can sit in any run of layers between its ends at the same
    total edge length, and longest-path ranking stacks it right under its source, beside the
    other branches of the same fork: the drawing is as wide as all of them side by side. ELK
    and dot break that tie by nothing; here the chain moves, as one block (so it stays
    compact), to the offset whose widest layer (boxes and gaps already there) is the
    narrowest, and only when that is strictly narrower than where it is. Vertices past
    ``len(movable)`` (ports) are not looked at.
    """
    n = len(movable)
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for s, d in edges:
        succ[s].append(d)
        pred[d].append(s)
    ok = [movable[v] and len(pred[v]) == 1 and len(succ[v]) == 1 for v in range(n)]
    if not any(ok):
        return
    nl = max(rank[v] + span[v] for v in range(n))
    load = [0.0] * nl  # boxes and gaps in each layer
    for v in range(n):
        for r in range(rank[v], rank[v] + span[v]):
            load[r] += widths[v] + sep
    for head in range(n):
        if not ok[head] or ok[pred[head][0]]:
            continue
        chain = [head]
        while ok[succ[chain[-1]][0]] and succ[chain[-1]][0] != head:
            chain.append(succ[chain[-1]][0])
        p, s = pred[head][0], succ[chain[-1]][0]
        cur = rank[head]
        if any(rank[c] != cur + i for i, c in enumerate(chain)):
            continue  # not a compact run (a longer min length inside): leave it
        lo, hi = rank[p] + span[p], rank[s] - len(chain)  # (a tall source ends lower)
        if hi <= lo:
            continue
        for i, c in enumerate(chain):
            load[cur + i] -= widths[c] + sep

        need = [widths[c] + sep for c in chain]
        best_t = cur
        best_c = max(load[cur + i] + w for i, w in enumerate(need))
        for t in range(lo, hi + 1):
            c_ = max(load[t + i] + w for i, w in enumerate(need))
            if c_ < best_c - 0.5:
                best_t, best_c = t, c_
        for i, c in enumerate(chain):
            rank[c] = best_t + i
            load[best_t + i] += widths[c] + sep
