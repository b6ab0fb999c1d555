"""Phase 4: crossing reduction.

Layers are lists of vertex ids (real nodes, ports and long-edge dummies). The start order is a
DFS along the data path, which already keeps each branch of a block together; then layer
sweeps (down with upper neighbours, up with lower neighbours) sort by barycenter, and an
adjacent-swap ("transpose") pass fixes what the sort cannot. Every sweep is O(E log E); the
number of sweeps shrinks with the graph size (work budget) and the best order seen is kept.
"""

from __future__ import annotations

from nnviz.layout.layered.dummies import Proper


def dfs_order(nv: int, layer_of: list[int], nlayers: int, down: list[list[int]],
              roots: list[int]) -> list[list[int]]:
    """Initial layers from a DFS (preorder) that visits successors in their edge order."""
    layers: list[list[int]] = [[] for _ in range(nlayers)]
    seen = [False] * nv
    for r in list(roots) + list(range(nv)):
        if seen[r]:
            continue
        seen[r] = True
        stack = [r]
        while stack:
            v = stack.pop()
            layers[layer_of[v]].append(v)
            # push successors reversed so that the first one is visited first
            for w in reversed(down[v]):
                if not seen[w]:
                    seen[w] = True
                    stack.append(w)
    return layers


def _crossings_between(lower: list[int], nbr_up: list[list[int]], pos: list[float]) -> int:
    """Crossings between one layer and the layer above it (Fenwick tree inversion count)."""
    pairs = []
    for v in lower:
        pv = pos[v]
        for u in nbr_up[v]:
            pairs.append((pos[u], pv))
    if len(pairs) < 2:
        return 0
    pairs.sort()
    size = len(lower) + 1
    tree = [0] * (size + 1)
    total = 0
    seen = 0
    for _, b in pairs:
        i = int(b) + 1
        # count earlier pairs with lower position > b
        s = 0
        j = i
        while j > 0:
            s += tree[j]
            j -= j & -j
        total += seen - s
        seen += 1
        j = i
        while j <= size:
            tree[j] += 1
            j += j & -j
    return total


def count_crossings(layers: list[list[int]], up: list[list[int]], pos: list[float]) -> int:
    total = 0
    for li in range(1, len(layers)):
        total += _crossings_between(layers[li], up, pos)
    return total


def _set_pos(layer: list[int], pos: list[float]) -> None:
    for i, v in enumerate(layer):
        pos[v] = float(i)


def _sort_layer(layer: list[int], nbrs: list[list[int]], pos: list[float],
                nbr_off: list[list[float]] | None) -> list[int]:
    keyed = []
    for i, v in enumerate(layer):
        nb = nbrs[v]
        if nb:
            if nbr_off is not None:
                offs = nbr_off[v]
                bc = sum(pos[u] + o for u, o in zip(nb, offs)) / len(nb)
            else:
                bc = sum(pos[u] for u in nb) / len(nb)
        else:
            bc = pos[v]
        keyed.append((bc, i, v))
    keyed.sort()
    return [v for _, _, v in keyed]


def _pair_cross(u: int, v: int, nbrs: list[list[int]], pos: list[float]) -> int:
    """Crossings among edges of u and v to one neighbour layer if u is left of v."""
    c = 0
    for a in nbrs[u]:
        pa = pos[a]
        for b in nbrs[v]:
            if pos[b] < pa:
                c += 1
    return c


def _transpose(layers: list[list[int]], up: list[list[int]], down: list[list[int]],
               pos: list[float], budget: int) -> int:
    """Adjacent swaps that reduce crossings with both neighbour layers; returns work used."""
    work = 0
    improved = True
    rounds = 0
    while improved and rounds < 4 and work < budget:
        improved = False
        rounds += 1
        for layer in layers:
            for i in range(len(layer) - 1):
                u, v = layer[i], layer[i + 1]
                du = len(up[u]) + len(down[u])
                dv = len(up[v]) + len(down[v])
                if du * dv > 64:
                    continue
                work += du * dv + 1
                before = _pair_cross(u, v, up, pos) + _pair_cross(u, v, down, pos)
                after = _pair_cross(v, u, up, pos) + _pair_cross(v, u, down, pos)
                if after < before:
                    layer[i], layer[i + 1] = v, u
                    pos[u], pos[v] = float(i + 1), float(i)
                    improved = True
    return work


def reduce_crossings(layers: list[list[int]], up: list[list[int]], down: list[list[int]],
                     nedges: int, up_off: list[list[float]] | None = None,
                     down_off: list[list[float]] | None = None,
                     budget: int | None = None) -> list[list[int]]:
    """Reorder ``layers`` in place-free fashion; returns the best layering found.

    ``up_off``/``down_off`` optionally give, per neighbour, a fractional position offset
    (where an edge attaches along a wide group box), so ports order edges correctly.
    """
    return reduce_crossings_counted(layers, up, down, nedges, up_off, down_off, budget)[0]


def reduce_crossings_counted(layers: list[list[int]], up: list[list[int]],
                             down: list[list[int]], nedges: int,
                             up_off: list[list[float]] | None = None,
                             down_off: list[list[float]] | None = None,
                             budget: int | None = None) -> tuple[list[list[int]], int]:
    """``reduce_crossings`` that also returns the crossings of the order it returns."""
    nv = len(up)
    pos = [0.0] * nv
    for layer in layers:
        _set_pos(layer, pos)
    best = [list(layer) for layer in layers]
    best_c = count_crossings(layers, up, pos)
    if best_c == 0:
        return best, 0
    if budget is None:
        budget = 40 * max(nedges, 1) + 20000
    # each sweep (both directions) costs about 2 * E log E; cap iterations by the budget
    iters = max(2, min(24, budget // max(1, 2 * nedges + nv)))
    work = 0
    stale = 0
    for _ in range(iters):
        for li in range(1, len(layers)):
            layers[li] = _sort_layer(layers[li], up, pos, up_off)
            _set_pos(layers[li], pos)
        for li in range(len(layers) - 2, -1, -1):
            layers[li] = _sort_layer(layers[li], down, pos, down_off)
            _set_pos(layers[li], pos)
        if work < budget:
            work += _transpose(layers, up, down, pos, budget - work)
        c = count_crossings(layers, up, pos)
        work += 2 * nedges + nv
        if c < best_c:
            best_c = c
            best = [list(layer) for layer in layers]
            stale = 0
        else:
            stale += 1
        if best_c == 0 or stale >= 3 or work >= budget:
            break
    return best, best_c


def _chain_cost(segs: list[tuple[int, int]], up: list[list[int]], layer_of: list[int],
                layers: list[list[int]], pos: list[float], moved: dict[int, float]) -> int:
    """Crossings of a chain's segments (upper, lower) with every other segment of their
    layer pairs, with the chain's dummies at the positions in ``moved``."""
    own = set(segs)
    total = 0
    for a, b in segs:
        pa, pb = moved.get(a, pos[a]), moved.get(b, pos[b])
        for w in layers[layer_of[b]]:
            pw = moved.get(w, pos[w]) - pb
            if pw == 0:
                continue
            for u in up[w]:
                if (u, w) in own:
                    continue
                if (moved.get(u, pos[u]) - pa) * pw < 0:
                    total += 1
    return total


# a long edge is tried at this many evenly spread places across its layers (and both ends)
CHAIN_PLACES = 8


def sift_long_edges(layers: list[list[int]], up: list[list[int]], layer_of: list[int],
                    chains: list[list[int]], budget: int) -> int:
    """Move whole long edges across the trunk: each chain of dummies (shortest first: cheap
    to try, within the budget) goes to the place that removes the most crossings among the
    same fraction of every layer it passes (the left end, 1/8 of the way, ..., the right
    end), all its dummies at once.

    Barycenter sweeps move one vertex at a time, so a residual edge that runs right of the
    trunk, where an attention mask's edges must cross it into every block, stays there: each
    single dummy moved left costs a crossing before the whole edge gains one. Moving the
    whole chain is one step. Returns the work spent; ``layers`` are changed in place.
    """
    pos = [0.0] * len(layer_of)
    for layer in layers:
        _set_pos(layer, pos)
    work = 0
    for chain in sorted((c for c in chains if len(c) >= 4), key=lambda c: (len(c), c[1])):
        dummies = chain[1:-1]
        segs = list(zip(chain, chain[1:]))
        span = sum(len(layers[layer_of[b]]) for _, b in segs)
        cost = (CHAIN_PLACES + 2) * span  # every place priced once, plus where it is
        if work + cost > budget:
            break
        work += cost
        now = _chain_cost(segs, up, layer_of, layers, pos, {})
        if now == 0:
            continue
        best, best_moved = now, None
        for k in range(CHAIN_PLACES + 1):
            f = k / CHAIN_PLACES
            moved = {d: -0.5 + f * len(layers[layer_of[d]]) for d in dummies}
            c = _chain_cost(segs, up, layer_of, layers, pos, moved)
            if c < best:
                best, best_moved = c, moved
        if best_moved is None:
            continue
        for d in dummies:
            layer = layers[layer_of[d]]
            layer.remove(d)
            _set_pos(layer, pos)
            at = sum(1 for w in layer if pos[w] < best_moved[d])
            layer.insert(at, d)
            _set_pos(layer, pos)
    return work


# up to this many layer-to-layer segments a level with crossings left gets a second start
# (it pays off on small levels; on big ones it doubled the ordering time for no gain)
MULTI_START_SEGMENTS = 5000


def order_level(pg: Proper, roots: list[int], nlayers: int, has_offsets: bool,
                budget_scale: float = 1.0) -> list[list[int]]:
    """Phase 4 for one level: the vertex order of every layer of a proper layered graph.

    ``roots`` start the DFS (in-ports, then items without predecessors); ``has_offsets``
    says some edge attaches away from a box centre (ports of a child frame), whose
    fractional positions then order the edges.
    """
    nv = pg.nv
    layers = dfs_order(nv, pg.vrank, nlayers, pg.down, roots)
    nseg = sum(len(x) for x in pg.down)
    width = pg.width

    def frac(offs: list[list[tuple[float, float]]], nbrs: list[list[int]]):
        return [[0.9 * o[0] / width[u] if width[u] > 0 else 0.0
                 for u, o in zip(nbrs[v], offs[v])] for v in range(nv)]

    budget = int((40 * nseg + 20000) * budget_scale)
    fup = frac(pg.up_off, pg.up) if has_offsets else None
    fdown = frac(pg.down_off, pg.down) if has_offsets else None
    layers, c1 = reduce_crossings_counted(layers, pg.up, pg.down, nseg, fup, fdown,
                                          budget=budget)
    if c1 and nseg <= MULTI_START_SEGMENTS:
        # Sweeps only reach a local optimum of their start. A second start from the DFS
        # that takes the last successor first puts skip edges on the other side of the
        # trunk, which frees the way for a long fan-out edge (an attention mask drawn
        # without stubs: 6 -> 0 crossings on a 6-block GPT). Graphs that are already
        # crossing-free (the usual case) pay nothing.
        alt = dfs_order(nv, pg.vrank, nlayers, [d[::-1] for d in pg.down], roots)
        alt, c2 = reduce_crossings_counted(alt, pg.up, pg.down, nseg, fup, fdown,
                                           budget=budget)
        if c2 < c1:
            layers, c1 = alt, c2
        # Two more starts from the sources taken last first: where inputs and side
        # graphs start on the other side of the trunk (GPT-2 .pt2 20 -> 18 crossings,
        # Llama .pt2 28 -> 26).
        for down in (pg.down, [d[::-1] for d in pg.down]):
            if not c1:
                break
            alt = dfs_order(nv, pg.vrank, nlayers, down, roots[::-1])
            alt, c2 = reduce_crossings_counted(alt, pg.up, pg.down, nseg, fup, fdown,
                                               budget=budget)
            if c2 < c1:
                layers, c1 = alt, c2
    adj = [[pg.tail[c[0]]] + c[1:] for c in pg.chains if c]  # a tall source: its last filler

    def sifted(layers: list[list[int]], c1: int) -> tuple[list[list[int]], int]:
        if not c1:
            return layers, c1
        # whole long edges across the trunk, then sweeps again from there (they keep the
        # best order seen, so this never makes things worse)
        trial = [list(layer) for layer in layers]
        sift_long_edges(trial, pg.up, pg.vrank, adj, budget)
        trial, c3 = reduce_crossings_counted(trial, pg.up, pg.down, nseg, fup, fdown,
                                             budget=budget)
        return (trial, c3) if c3 < c1 else (layers, c1)

    layers, c1 = sifted(layers, c1)
    if c1 and nseg <= MULTI_START_SEGMENTS:
        # Two starts from the sinks up, where crossings remain: a side graph's sources
        # then sit beside the consumers they share instead of in the order the sources'
        # DFS reaches them (GPT-2 .pt2's causal-mask index chains: 16 -> 8 crossings).
        sinks = [v for v in range(nv) if not pg.down[v]]
        for upl in (pg.up, [u[::-1] for u in pg.up]):
            alt = dfs_order(nv, pg.vrank, nlayers, upl, sinks[::-1])
            alt, c2 = sifted(*reduce_crossings_counted(alt, pg.up, pg.down, nseg, fup, fdown,
                                                       budget=budget))
            if c2 < c1:
                layers, c1 = alt, c2
            if not c1:
                break
    return layers
