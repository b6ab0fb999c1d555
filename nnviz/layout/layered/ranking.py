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

from nnviz.util import union_find_root


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
    main = main_vertices(n, edges, lens, anchored, order)
    for v in rev:
        if not main[v] and out_e[v]:
            rank[v] = min(rank[edges[i][1]] - lens[i] for i in out_e[v])
    low = min(rank)
    if low:
        rank = [r - low for r in rank]
    return rank


def main_vertices(n: int, edges: list[tuple[int, int]], lens: list[int],
                  anchored: list[bool] | None, order: list[int]) -> list[bool]:
    """Per vertex: reached from a main source (a source on a longest path, or an anchored
    vertex: fed through the frame's in-ports). ``order`` is a topological order. What is not
    main hangs off the main graph: nothing above it pulls it up."""
    succ: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    has_pred = [False] * n
    for i, (s_, d) in enumerate(edges):
        succ[s_].append((d, lens[i]))
        has_pred[d] = True
    below = [0] * n  # longest path down to a sink
    for v in reversed(order):
        for d, ln in succ[v]:
            if below[d] + ln > below[v]:
                below[v] = below[d] + ln
    top = max(below, default=0)
    main = [(anchored is not None and anchored[v]) or (not has_pred[v] and below[v] == top)
            for v in range(n)]
    for v in order:
        if main[v]:
            for d, _ in succ[v]:
                main[d] = True
    return main


def settle_side_graphs(rank: list[int], edges: list[tuple[int, int]], widths: list[float],
                       sep: float, edge_sep: float, movable: list[bool], main: list[bool],
                       span: list[int]) -> bool:
    """Lift side graphs to narrower layers (``rank`` changed in place); True if any moved.

    A side graph (a connected part of what no main source reaches: the weight slices and
    Concat that feed a recurrent layer, a mask or position computation) hangs right above
    its consumer, and several of them hang side by side in the same layers: an LSTM's
    two weight groups stood in one row of eight 150-px slices. Lifted as a whole (only its
    outgoing edges get longer), each goes where its layers are narrowest, when it stands
    in the widest layer of the level and the move makes that strictly narrower.
    """
    n = len(movable)
    parent = list(range(n))

    out: dict[int, int] = {}  # side vertex -> its edges to the main graph
    for s_, d in edges:
        if s_ < n and d < n and not main[s_]:
            if main[d]:
                out[s_] = out.get(s_, 0) + 1
            else:
                parent[union_find_root(parent, s_)] = union_find_root(parent, d)
    comps: dict[int, list[int]] = {}
    for v in range(n):
        if not main[v]:
            comps.setdefault(union_find_root(parent, v), []).append(v)
    if not comps:
        return False
    moved = False
    nl = max(rank[v] + span[v] for v in range(n))
    load = [0.0] * nl
    for v in range(n):
        for r in range(rank[v], rank[v] + span[v]):
            load[r] += widths[v] + sep
    for comp in sorted(comps.values(), key=lambda c: c[0]):
        if len(comp) < 2 or not all(movable[v] and span[v] == 1 for v in comp):
            continue
        need: dict[int, float] = {}
        for v in comp:
            need[rank[v]] = need.get(rank[v], 0.0) + widths[v] + sep
        widest = max(load)
        cur = max(load[r] for r in need)
        if cur < widest - 0.5:
            continue  # not in the widest layer: moving it cannot narrow the level
        for r, w in need.items():
            load[r] -= w
        best_t, best_c = 0, cur
        for t in range(1, min(rank[v] for v in comp) + 1):
            c_ = max(load[r - t] + w for r, w in need.items())
            # the lengthened edges pass the layers between as thin long-edge dummies
            for v in comp:
                for r in range(rank[v] - t + 1, rank[v] + 1):
                    if out.get(v) and r not in need:
                        c_ = max(c_, load[r] + out[v] * edge_sep)
            if c_ < best_c - 0.5:
                best_t, best_c = t, c_
        for v in comp:
            rank[v] -= best_t
        for r, w in need.items():
            load[r - best_t] += w
        moved = moved or best_t > 0
    return moved


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
