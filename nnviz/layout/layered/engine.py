"""First layered engine: longest-path layers, dummies, barycenter sweeps, packed coordinates.

Phases work on integer-indexed lists. This is the baseline that the full engine replaces
phase by phase.
"""

from __future__ import annotations

from nnviz.ir import Graph
from nnviz.layout.labels import box_size, fit_lines, node_lines
from nnviz.layout.model import EdgePath, Layout, NodeBox
from nnviz.theme import Theme


def layout_layered(graph: Graph, theme: Theme, direction: str = "TB") -> Layout:
    ids = graph.topological_order()
    index = {nid: i for i, nid in enumerate(ids)}
    n = len(ids)
    lines = [fit_lines(node_lines(graph, graph.nodes[nid]), theme) for nid in ids]
    sizes = [box_size(ln, theme) for ln in lines]
    if direction in ("LR", "RL"):
        sizes_main = [(h, w) for w, h in sizes]  # layout in TB space, swap at the end
    else:
        sizes_main = sizes

    edges = []
    for e in graph.edges():
        s, d = index[e.src], index[e.dst]
        if s == d:
            continue
        if s > d:  # back edge (cycle in a bad file): reverse for layering
            edges.append((d, s, e, True))
        else:
            edges.append((s, d, e, False))

    # Longest-path layering in topological order.
    rank = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for s, d, _, _ in edges:
        succ[s].append(d)
    for u in range(n):
        for v in succ[u]:
            if rank[v] < rank[u] + 1:
                rank[v] = rank[u] + 1

    # Long-edge dummies: each edge becomes a chain of segments between adjacent layers.
    width = list(w for w, _ in sizes_main)
    height = list(h for _, h in sizes_main)
    chains: list[list[int]] = []
    vrank = list(rank)
    for s, d, _, _ in edges:
        chain = [s]
        for r in range(rank[s] + 1, rank[d]):
            vrank.append(r)
            width.append(2.0)
            height.append(0.0)
            chain.append(len(vrank) - 1)
        chain.append(d)
        chains.append(chain)
    total = len(vrank)
    up: list[list[int]] = [[] for _ in range(total)]
    down: list[list[int]] = [[] for _ in range(total)]
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)

    nlayers = max(vrank, default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(nlayers)]
    for v in range(total):
        layers[vrank[v]].append(v)
    pos = [0.0] * total
    for layer in layers:
        for i, v in enumerate(layer):
            pos[v] = float(i)

    def sweep(order_from: list[list[int]], layer_seq: range) -> None:
        for li in layer_seq:
            layer = layers[li]
            keyed = []
            for i, v in enumerate(layer):
                nb = order_from[v]
                bc = sum(pos[u] for u in nb) / len(nb) if nb else pos[v]
                keyed.append((bc, i, v))
            keyed.sort()
            layers[li] = [v for _, _, v in keyed]
            for i, v in enumerate(layers[li]):
                pos[v] = float(i)

    for _ in range(4):
        sweep(up, range(1, nlayers))
        sweep(down, range(nlayers - 2, -1, -1))

    sp = theme["spacing"]
    node_sep, rank_sep, margin = sp["node_sep"], sp["rank_sep"], sp["margin"]
    x = [0.0] * total
    for layer in layers:
        cursor = 0.0
        for v in layer:
            sep = node_sep if v < n else sp["edge_sep"]
            x[v] = cursor + width[v] / 2
            cursor += width[v] + sep
    # Centre each layer around the widest one.
    widest = max((x[layer[-1]] + width[layer[-1]] / 2 for layer in layers if layer), default=0.0)
    for layer in layers:
        if not layer:
            continue
        span = x[layer[-1]] + width[layer[-1]] / 2
        shift = (widest - span) / 2
        for v in layer:
            x[v] += shift
    layer_y = []
    cursor = 0.0
    for layer in layers:
        h = max((height[v] for v in layer), default=0.0)
        layer_y.append(cursor + h / 2)
        cursor += h + rank_sep
    y = [layer_y[vrank[v]] for v in range(total)]

    def place(px: float, py: float) -> tuple[float, float]:
        px, py = px + margin, py + margin
        return (py, px) if direction in ("LR", "RL") else (px, py)

    boxes: dict[str, NodeBox] = {}
    for i, nid in enumerate(ids):
        cx, cy = place(x[i], y[i])
        w, h = sizes[i]
        boxes[nid] = NodeBox(nid, round(cx - w / 2, 2), round(cy - h / 2, 2), w, h, lines[i])

    paths: list[EdgePath] = []
    for (_s, _d, e, reversed_), chain in zip(edges, chains):
        pts = []
        for k, v in enumerate(chain):
            if v < n:
                off = height[v] / 2 * (1 if k == 0 else -1)
                pts.append(place(x[v], y[v] + off))
            else:
                pts.append(place(x[v], y[v]))
        if reversed_:
            pts.reverse()
        paths.append(EdgePath(e.src, e.dst, e.tensor, [(round(a, 2), round(b, 2)) for a, b in pts]))

    w_all = widest + 2 * margin
    h_all = cursor - rank_sep + 2 * margin if layers else 2 * margin
    if direction in ("LR", "RL"):
        w_all, h_all = h_all, w_all
    return Layout(width=round(w_all, 2), height=round(h_all, 2), nodes=boxes, edges=paths,
                  direction=direction, engine="layered")
