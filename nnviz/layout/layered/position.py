"""Phase 5: coordinate assignment (Brandes-Koepf, with two refinements).

Four vertical alignments (up/down x left/right) are compacted and balanced, as in Brandes &
Koepf (2001) and dagre. Two refinements make NN drawings read well:

* alignment priority: candidate median neighbours of the same type (node-node, or
  dummy-dummy on a long edge) are aligned before mixed pairs, so that when a node feeds both
  the next layer and a skip connection, the trunk (node-node) wins in all four passes and
  becomes one straight vertical line, with the skip edge a straight line beside it;
* inner shifts: an edge may attach to a wide box (a group frame) away from its centre; an
  alignment then keeps the edge itself vertical (x[v] = x[u] + off_u - off_v), as ELK does.

Separation between neighbours in a layer is half the widths plus ``node_sep`` (``edge_sep``
next to dummies). A final sweep re-establishes separation after balancing, so boxes never
overlap whatever the four passes disagree on.
"""

from __future__ import annotations

import math

from nnviz.util import union_find_root


def mark_type1(layers: list[list[int]], up: list[list[int]], pos: list[int],
               dummy: list[bool], nv: int) -> set[int]:
    """Non-inner segments crossing an inner (dummy-dummy) segment: never aligned."""
    marked: set[int] = set()
    for i in range(len(layers) - 1):
        upper, lower = layers[i], layers[i + 1]
        if not upper or not lower:
            continue
        k0 = 0
        l = 0
        last = len(lower) - 1
        for l1, v in enumerate(lower):
            inner_u = -1
            if dummy[v]:
                for u in up[v]:
                    if dummy[u]:
                        inner_u = u
                        break
            if l1 == last or inner_u >= 0:
                k1 = len(upper) - 1 if inner_u < 0 else pos[inner_u]
                while l <= l1:
                    w = lower[l]
                    for u in up[w]:
                        k = pos[u]
                        if k < k0 or k > k1:
                            marked.add(u * nv + w)
                    l += 1
                k0 = k1
    return marked


def _one_pass(seq: list[list[int]], nb: list[list[int]], nb_off: list[list[tuple[float, float]]],
              hpos: list[int], width: list[float], dummy: list[bool], bend: list[bool],
              gap_node: float,
              gap_dummy: float, marked: set[int], upper_is_nb: bool, nv: int,
              sign: float, run: list[int], forced: dict[int, int] | None = None
              ) -> list[float]:
    root = list(range(nv))
    align = list(range(nv))
    inner = [0.0] * nv
    forced = forced or {}
    for layer in seq[1:]:
        cands: list[list[int]] = []
        for v in layer:
            nbs = nb[v]
            d = len(nbs)
            if d == 0:
                cands.append([])
                continue
            if d == 1:
                cands.append([0])
                continue
            idx = sorted(range(d), key=lambda k, nbs=nbs: hpos[nbs[k]])
            if d % 2:
                cands.append([idx[(d - 1) // 2]])
            else:
                a, b = idx[d // 2 - 1], idx[d // 2]
                # of two medians prefer the one at the end of the longer straight chain:
                # the trunk, not the side branch (decides the same way in all four passes)
                if run[nbs[b]] > run[nbs[a]]:
                    a, b = b, a
                cands.append([a, b])
        n_l = len(layer)
        aligned = [-1] * n_l
        pre = False
        if forced:
            # trunk edges first (the same in all four passes): a deep net's main path stays
            # one straight column instead of drifting a little at every block
            r = -1
            for i, v in enumerate(layer):
                u = forced.get(v)
                if u is None:
                    continue
                key = u * nv + v if upper_is_nb else v * nv + u
                hu = hpos[u]
                if key in marked or hu <= r:
                    continue
                k = nb[v].index(u)
                ou, ov = nb_off[v][k]
                align[u] = v
                root[v] = root[u]
                align[v] = root[v]
                inner[v] = inner[u] + sign * (ou - ov)
                r = hu
                aligned[i] = hu
                pre = True
        for rnd in (0, 1):
            if rnd == 1 or pre:
                rb = [0] * n_l
                nxt = 1 << 60
                for i in range(n_l - 1, -1, -1):
                    rb[i] = nxt
                    if aligned[i] >= 0:
                        nxt = aligned[i]
            r = -1
            for i, v in enumerate(layer):
                if aligned[i] >= 0:
                    r = aligned[i]
                    continue
                for k in cands[i]:
                    u = nb[v][k]
                    if rnd == 0 and bend[u] != bend[v]:
                        continue
                    key = u * nv + v if upper_is_nb else v * nv + u
                    if key in marked:
                        continue
                    hu = hpos[u]
                    if r < hu and ((rnd == 0 and not pre) or hu < rb[i]):
                        ou, ov = nb_off[v][k]
                        align[u] = v
                        root[v] = root[u]
                        align[v] = root[v]
                        inner[v] = inner[u] + sign * (ou - ov)
                        r = hu
                        aligned[i] = hu
                        break
    # Horizontal compaction on the block graph (dagre's two-pass longest path).
    succ: dict[int, dict[int, float]] = {}
    indeg: dict[int, int] = {}
    for layer in seq:
        for a, b in zip(layer, layer[1:]):
            ra, rb_ = root[a], root[b]
            gap = gap_dummy if (dummy[a] or dummy[b]) else gap_node
            wt = (width[a] + width[b]) / 2 + gap + inner[a] - inner[b]
            s = succ.setdefault(ra, {})
            if rb_ in s:
                if wt > s[rb_]:
                    s[rb_] = wt
            else:
                s[rb_] = wt
                indeg[rb_] = indeg.get(rb_, 0) + 1
    roots = [v for layer in seq for v in layer if root[v] == v]
    order = [v for v in roots if indeg.get(v, 0) == 0]
    i = 0
    while i < len(order):
        v = order[i]
        i += 1
        for w in succ.get(v, ()):
            indeg[w] -= 1
            if indeg[w] == 0:
                order.append(w)
    if len(order) < len(roots):  # defensive: inconsistent alignment, keep every block
        seen = set(order)
        order.extend(v for v in roots if v not in seen)
    xs = dict.fromkeys(roots, 0.0)
    pred_w: dict[int, list[tuple[int, float]]] = {}
    for a, s in succ.items():
        for b, wt in s.items():
            pred_w.setdefault(b, []).append((a, wt))
    for v in order:
        best = 0.0
        first = True
        for a, wt in pred_w.get(v, ()):
            c = xs[a] + wt
            if first or c > best:
                best = c
                first = False
        xs[v] = best
    for v in reversed(order):
        s = succ.get(v)
        if s:
            m = min(xs[b] - wt for b, wt in s.items())
            if m > xs[v]:
                xs[v] = m
    return [xs.get(root[v], 0.0) + inner[v] for v in range(nv)]


def _place_free(layers: list[list[int]], free: list[bool], x: list[float],
                targets: list[float], width: list[float], dummy: list[bool], gap_node: float,
                gap_dummy: float, up: list[list[int]], down: list[list[int]]) -> None:
    """Put every free vertex at the x nearest its target where it overlaps nothing.

    The others of its layer are already placed; a free vertex only takes leftover space
    (the gap beside its consumer's neighbour, or past the end of the layer), so it can never
    push them sideways. Of the two sides of what blocks its target, it takes the one where
    its edges cross fewer edges between the same layers (a stub right of a residual edge
    that passes beside its consumer would cross it), then the nearer.
    """

    def crossings(v: int, xv: float, placed: list[int]) -> int:
        """Crossings of v's edges (v at xv) with its placed layer-mates' edges."""
        c = 0
        for nbrs in (down, up):
            for u in nbrs[v]:
                if free[u]:
                    continue
                for w in placed:
                    c += sum(1 for q in nbrs[w] if not free[q] and (x[w] - xv) * (x[q] - x[u]) < 0)
        return c

    for layer in layers:
        fr = [v for v in layer if free[v]]
        if not fr:
            continue
        placed = [v for v in layer if not free[v]]
        for v in sorted(fr, key=lambda u: (targets[u], u)):
            forb = []
            for q in placed:
                gap = gap_dummy if (dummy[q] or dummy[v]) else gap_node
                half = (width[q] + width[v]) / 2 + gap
                forb.append((x[q] - half, x[q] + half))
            forb.sort()
            merged: list[list[float]] = []
            for a, b in forb:
                if merged and a < merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            t = targets[v]
            best = t
            for lo, hi in merged:
                if lo < t < hi:
                    # fewer crossings, then the nearer side; ties go right (stubs
                    # conventionally sit right of the trunk)
                    best = min((hi, lo), key=lambda s: (crossings(v, s, placed), abs(s - t)))
                    break
            x[v] = best
            placed.append(v)


def trunks(layers: list[list[int]], up: list[list[int]], bend: list[bool],
           min_len: int = 4, max_paths: int = 64) -> dict[int, int]:
    """The main paths of a level: vertex-disjoint longest chains of boxes in consecutive
    layers (longest first, at least ``min_len`` boxes), as lower vertex -> upper vertex.

    Brandes-Koepf aligns each vertex with a median neighbour, and in a transformer block
    the four passes pick different branches at the q/k/v fork and join; balanced, the trunk
    then moves sideways by part of a branch at every block (a 24-block GPT-2 drawn flat was
    3,400 px wide). Aligning the longest path of boxes first, identically in all passes,
    keeps it one straight column with the branches beside it.
    """
    layer_of: dict[int, int] = {}
    for li, layer in enumerate(layers):
        for v in layer:
            layer_of[v] = li
    # one longest-path pass: chain length ending at each box, and its best box above
    best: dict[int, int] = {}
    prev: dict[int, int] = {}
    ends: list[tuple[int, int, int]] = []
    k = 0
    for layer in layers:
        for v in layer:
            if bend[v]:
                continue
            n, p = 1, -1
            lv = layer_of[v]
            for u in up[v]:
                if not bend[u] and layer_of.get(u) == lv - 1 and best[u] + 1 > n:
                    n, p = best[u] + 1, u
            best[v], prev[v] = n, p
            ends.append((-n, k, v))
            k += 1
    # greedy decomposition, longest first; a chain stops where it meets a taken box
    ends.sort()
    used: set[int] = set()
    out: dict[int, int] = {}
    taken = 0
    for neg_n, _, v in ends:
        if -neg_n < min_len or taken >= max_paths:
            break
        if v in used:
            continue
        chain = [v]
        while prev[chain[-1]] >= 0 and prev[chain[-1]] not in used:
            chain.append(prev[chain[-1]])
        if len(chain) < min_len:
            continue
        for lo, hi in zip(chain, chain[1:]):
            out[lo] = hi
        used.update(chain)
        taken += 1
    return out


def assign_x(layers: list[list[int]], up: list[list[int]], down: list[list[int]],
             up_off: list[list[tuple[float, float]]], down_off: list[list[tuple[float, float]]],
             width: list[float], dummy: list[bool], gap_node: float,
             gap_dummy: float, bend: list[bool] | None = None,
             free: list[bool] | None = None, slide: list[bool] | None = None) -> list[float]:
    """x centre of every vertex; ``*_off[v][k]`` = (attach offset at the neighbour, at v).

    ``dummy`` marks vertices that take the small gap; ``bend`` (default: ``dummy``) marks the
    long-edge dummies for alignment priority (ports are small but align like nodes).
    ``free`` marks vertices (reference stubs) left out of alignment and compaction: they are
    placed last, beside their neighbours, in space nobody else uses, so a stub next to every
    block of a deep stack cannot shift each block sideways into a staircase. ``slide`` marks
    boxes that may sit off-centre under a narrower box feeding them (see ``compact``).
    """
    bend = dummy if bend is None else bend
    nv = len(width)
    if nv == 0:
        return []
    if free is not None and any(free):
        core = [[v for v in layer if not free[v]] for layer in layers]
        # drop the free vertices' edges; only their neighbours' lists change (stubs are few)
        up2, up_off2, down2, down_off2 = list(up), list(up_off), list(down), list(down_off)
        for f in range(nv):
            if not free[f]:
                continue
            up2[f], up_off2[f], down2[f], down_off2[f] = [], [], [], []
            for nbl, nbo, src in ((up2, up_off2, down[f]), (down2, down_off2, up[f])):
                for w in src:
                    ks = [k for k, u in enumerate(nbl[w]) if not free[u]]
                    nbl[w] = [nbl[w][k] for k in ks]
                    nbo[w] = [nbo[w][k] for k in ks]
        x = assign_x(core, up2, down2, up_off2, down_off2, width, dummy, gap_node, gap_dummy,
                     bend, slide=slide)
        targets = [0.0] * nv
        for v in range(nv):
            if not free[v]:
                continue
            # the attachment point the edge aims at: straight above/below it if possible
            pts = [x[u] + o[0] - o[1] for u, o in zip(down[v], down_off[v]) if not free[u]]
            pts += [x[u] + o[0] - o[1] for u, o in zip(up[v], up_off[v]) if not free[u]]
            targets[v] = sum(pts) / len(pts) if pts else 0.0
        _place_free(layers, free, x, targets, width, dummy, gap_node, gap_dummy, up, down)
        return x
    pos = [0] * nv
    for layer in layers:
        for i, v in enumerate(layer):
            pos[v] = i
    marked = mark_type1(layers, up, pos, bend, nv)
    # length of the chain of single-neighbour nodes above (run_up) / below (run_dn) a vertex
    run_up = [1] * nv
    for layer in layers:
        for v in layer:
            if len(up[v]) == 1 and not bend[v] and not bend[up[v][0]]:
                run_up[v] = run_up[up[v][0]] + 1
    run_dn = [1] * nv
    for layer in reversed(layers):
        for v in layer:
            if len(down[v]) == 1 and not bend[v] and not bend[down[v][0]]:
                run_dn[v] = run_dn[down[v][0]] + 1
    trunk_up = trunks(layers, up, bend)  # lower vertex -> upper vertex on a trunk
    trunk_dn = {u: v for v, u in trunk_up.items()}
    results = []
    for vert in ("down", "up"):
        seq_v = layers if vert == "down" else layers[::-1]
        nb = up if vert == "down" else down
        nb_off = up_off if vert == "down" else down_off
        for horiz in ("left", "right"):
            if horiz == "left":
                seq = seq_v
                hpos = pos
                sign = 1.0
            else:
                seq = [layer[::-1] for layer in seq_v]
                hpos = [0] * nv
                for layer in seq:
                    for i, v in enumerate(layer):
                        hpos[v] = i
                sign = -1.0
            xs = _one_pass(seq, nb, nb_off, hpos, width, dummy, bend, gap_node, gap_dummy,
                           marked, vert == "down", nv, sign, run_up if vert == "down" else run_dn,
                           trunk_up if vert == "down" else trunk_dn)
            if sign < 0:
                xs = [-x for x in xs]
            results.append((horiz, xs))
    # Align the four to the narrowest, then take the average of the two median values.
    spans = []
    members = [v for layer in layers for v in layer]  # (free vertices are placed later)
    for _, xs in results:
        lo = min((xs[v] - width[v] / 2 for v in members), default=0.0)
        hi = max((xs[v] + width[v] / 2 for v in members), default=0.0)
        spans.append((lo, hi))
    k = min(range(4), key=lambda i: (spans[i][1] - spans[i][0], i))
    lo_ref, hi_ref = spans[k]
    shifted = []
    for (horiz, xs), (lo, hi) in zip(results, spans):
        d = lo_ref - lo if horiz == "left" else hi_ref - hi
        shifted.append([x + d for x in xs])
    a, b, c, e = shifted
    x = [0.0] * nv
    for v in range(nv):
        vals = sorted((a[v], b[v], c[v], e[v]))
        x[v] = (vals[1] + vals[2]) / 2
    # Separation guard: push right wherever balancing left two neighbours too close.
    for layer in layers:
        for p, q in zip(layer, layer[1:]):
            gap = gap_dummy if (dummy[p] or dummy[q]) else gap_node
            need = x[p] + (width[p] + width[q]) / 2 + gap
            if x[q] < need - 1e-6:
                x[q] = need
    compact(layers, x, width, dummy, bend, up, down, up_off, gap_node, gap_dummy, slide)
    return x


def compact(layers: list[list[int]], x: list[float], width: list[float], dummy: list[bool],
            bend: list[bool], up: list[list[int]], down: list[list[int]],
            up_off: list[list[tuple[float, float]]], gap_node: float,
            gap_dummy: float, slide: list[bool] | None = None) -> None:
    """Narrow the level where long edges, not boxes, hold it wide (in place on ``x``).

    Brandes-Koepf makes every long edge one rigid vertical column, and a column that passes
    beside a wide part of the level (a transformer's input section) carries that width
    down to layers that have little in them: Llama drawn flat was 2,116 px wide where its
    widest layer needs 1,052; ELK's, with its long edges placed elsewhere, 1,793). Here the
    level's blocks (vertices joined by straight edges, except that a long edge's dummies are
    each on their own) are packed to the narrowest width they allow, each block kept as near
    its old place as that width lets it (the mean of a left- and a right-anchored packing,
    so nothing drifts to one side); then every long edge is straightened again into as few
    vertical pieces as its neighbours leave room for. Straight edges between boxes (the
    trunk) stay straight; the order in every layer is unchanged, so are the crossings.

    A ``slide`` box fed by one edge from a narrower box is not held centred under it: it may
    move sideways as long as the box above stays within its width, so the edge still runs
    straight down and enters it off-centre (bands.spread_offsets). ResNet's global pooling,
    wider than the trunk, then no longer sticks out on the side opposite the downsample
    branches (ResNet-18 248 -> 224 px wide).
    """
    members = [v for layer in layers for v in layer]
    if len(members) < 3:
        return
    # edges along which the box below may slide: v's only edge in, from a narrower box u
    sliding: dict[int, tuple[int, float]] = {}  # v -> (u, how far x[v] may leave x[u])
    if slide is not None:
        for v in members:
            if slide[v] and len(up[v]) == 1 and up_off[v][0] == (0.0, 0.0):
                u = up[v][0]
                if slide[u] and width[v] > width[u] + 1.0 and abs(x[u] - x[v]) < 0.01:
                    sliding[v] = (u, (width[v] - width[u]) / 2)
    args = (layers, members, x, width, dummy, bend, up, down, up_off, gap_node, gap_dummy)
    lo = min(x[v] - width[v] / 2 for v in members)
    hi = max(x[v] + width[v] / 2 for v in members)
    # sliding pays where the wide box is what sets the level's width
    sliding = {v: s for v, s in sliding.items()
               if x[v] - width[v] / 2 < lo + 0.5 or x[v] + width[v] / 2 > hi - 0.5}
    if sliding:
        w_rigid = _pack(*args, {}, dry=True)
        if w_rigid - _pack(*args, sliding, dry=True) < gap_node:
            # a box off-centre in a column reads as a misalignment unless it saves a box gap
            if w_rigid > hi - lo - 0.5:
                return  # and without it nothing is narrower
            sliding = {}
    for _ in range(3):
        if _pack(*args, sliding) is not None:
            return
    # the sliding boxes kept landing too far or too near: pack with every edge rigid
    _pack(*args, {})


def _pack(layers: list[list[int]], members: list[int], x: list[float], width: list[float],
          dummy: list[bool], bend: list[bool], up: list[list[int]], down: list[list[int]],
          up_off: list[list[tuple[float, float]]], gap_node: float, gap_dummy: float,
          sliding: dict[int, tuple[int, float]], dry: bool = False) -> float | None:
    """One packing (``compact``) with the ``sliding`` edges free; returns the narrowest
    width (``dry``: only that, ``x`` untouched). None (and ``x`` left as it was) when a
    sliding box ended too far from its feeder, or so near its centre line that it reads as
    a misalignment: those edges are then made rigid (removed from ``sliding``) and the
    caller packs again."""
    parent = {v: v for v in members}

    for v in members:
        for u, (ou, ov) in zip(up[v], up_off[v]):
            if (bend[u] and bend[v]) or v in sliding:
                continue
            if u in parent and abs(x[u] + ou - x[v] - ov) < 0.01:
                a, b = union_find_root(parent, u), union_find_root(parent, v)
                if a != b:
                    parent[b] = a
    root = {v: union_find_root(parent, v) for v in members}
    left: dict[int, float] = {}  # block root -> reach left of its root's x, and right
    right: dict[int, float] = {}
    for v in members:
        b = root[v]
        lft, rgt = x[b] - x[v] + width[v] / 2, x[v] + width[v] / 2 - x[b]
        if lft > left.get(b, -1e18):
            left[b] = lft
        if rgt > right.get(b, -1e18):
            right[b] = rgt
    succ: dict[int, dict[int, float]] = {}
    for layer in layers:
        for p, q in zip(layer, layer[1:]):
            bp, bq = root[p], root[q]
            if bp == bq:  # cannot happen (x grows along a layer); stay safe
                return math.inf
            gap = gap_dummy if (dummy[p] or dummy[q]) else gap_node
            wt = (width[p] + width[q]) / 2 + gap + (x[p] - x[bp]) - (x[q] - x[bq])
            s = succ.setdefault(bp, {})
            if wt > s.get(bq, -1e18):
                s[bq] = wt
    blocks = sorted(left, key=lambda b: (x[b], b))
    indeg = dict.fromkeys(blocks, 0)
    for s in succ.values():
        for b in s:
            indeg[b] += 1
    order = [b for b in blocks if indeg[b] == 0]
    i = 0
    while i < len(order):
        for b in succ.get(order[i], ()):
            indeg[b] -= 1
            if indeg[b] == 0:
                order.append(b)
        i += 1
    if len(order) < len(blocks):  # a cycle cannot happen either; keep BK's result
        return math.inf
    lo_old = min(x[v] - width[v] / 2 for v in members)
    hi_old = max(x[v] + width[v] / 2 for v in members)
    reach_l = dict(left)  # least x of each block's root with everything left of it packed
    for a in order:
        for b, wt in succ.get(a, {}).items():
            if reach_l[a] + wt > reach_l[b]:
                reach_l[b] = reach_l[a] + wt
    w_min = max(reach_l[b] + right[b] for b in blocks)
    if dry:
        return w_min
    if w_min > hi_old - lo_old - 0.5:
        return w_min
    reach_r = dict(right)  # least distance from each block's root to the right border
    pred: dict[int, list[tuple[int, float]]] = {}
    for a in reversed(order):
        for b, wt in succ.get(a, {}).items():
            if reach_r[b] + wt > reach_r[a]:
                reach_r[a] = reach_r[b] + wt
            pred.setdefault(b, []).append((a, wt))
    # left-anchored: each block at its old place unless the narrow width pulls it left
    xl: dict[int, float] = {}
    for b in order:
        lo = reach_l[b]
        for a, wt in pred.get(b, ()):
            if xl[a] + wt > lo:
                lo = xl[a] + wt
        xl[b] = min(max(x[b] - lo_old, lo), w_min - reach_r[b])
    # right-anchored, symmetrically
    xr: dict[int, float] = {}
    for b in reversed(order):
        hi = w_min - reach_r[b]
        for c, wt in succ.get(b, {}).items():
            if xr[c] - wt < hi:
                hi = xr[c] - wt
        xr[b] = max(min(x[b] - hi_old + w_min, hi), reach_l[b])
    shift = {b: (xl[b] + xr[b]) / 2 + lo_old - x[b] for b in blocks}
    far = []
    for v, (u, room) in sliding.items():
        d = abs(x[v] + shift[root[v]] - x[u] - shift[root[u]])
        if d > room + 1e-6 or 0.01 < d < gap_dummy:
            far.append(v)
    if far:
        for v in far:
            del sliding[v]
        return None
    for v in members:
        x[v] += shift[root[v]]
    # twice: the first pass straightens each edge beside neighbours not yet straightened
    # (T5 .pt2 drawn flat: 104 -> 96 bends)
    for _ in range(2):
        _straighten(layers, x, width, dummy, bend, up, down, gap_dummy)
    return w_min


def _straighten(layers: list[list[int]], x: list[float], width: list[float],
                dummy: list[bool], bend: list[bool], up: list[list[int]],
                down: list[list[int]], gap_dummy: float) -> None:
    """Every long edge as few vertical pieces as its layer neighbours leave room for: walking
    down its dummies, a piece goes on while the room beside each dummy still overlaps; it is
    put where the piece above it was (the source for the first), or as near as it fits."""
    nbr: dict[int, tuple[int, int]] = {}
    for layer in layers:
        for i, v in enumerate(layer):
            if bend[v]:
                nbr[v] = (layer[i - 1] if i else -1, layer[i + 1] if i + 1 < len(layer) else -1)

    def room(v: int) -> tuple[float, float]:
        a, b = nbr[v]
        lo = x[a] + width[a] / 2 + gap_dummy if a >= 0 else -1e18
        hi = x[b] - width[b] / 2 - gap_dummy if b >= 0 else 1e18
        return lo, hi

    for start in nbr:
        if len(up[start]) == 1 and bend[up[start][0]]:
            continue  # not the first dummy of its edge
        chain = [start]
        while len(down[chain[-1]]) == 1 and bend[down[chain[-1]][0]]:
            chain.append(down[chain[-1]][0])
        want = x[up[start][0]] if up[start] else x[start]
        i = 0
        while i < len(chain):
            lo, hi = room(chain[i])
            j = i + 1
            while j < len(chain):
                a, b = room(chain[j])
                if max(lo, a) > min(hi, b):
                    break
                lo, hi = max(lo, a), min(hi, b)
                j += 1
            if j == len(chain) and down[chain[-1]]:
                # the last piece: straight into the target if it fits
                tgt = x[down[chain[-1]][0]]
                if lo <= tgt <= hi:
                    want = tgt
            want = min(max(want, lo), hi)
            for v in chain[i:j]:
                x[v] = want
            i = j
