"""Phase 1 of the compound layout: the level tree and the edges cut at frame borders.

Framed groups (>= 2 nodes, not a mere wrapper around one child) become levels; every node
is an item of its innermost framed group's level, every framed group an item of its
parent's. An edge between two levels is cut into pieces: up through the out-ports of every
frame that holds the source but not the target, across the lowest common level, and down
through the in-ports of every frame that holds the target. High-fan-out auxiliary edges
(aux.py) become a stub item beside their consumer instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnviz.ir import Graph
from nnviz.layout.layered.aux import find_aux_edges
from nnviz.layout.layered.problem import LevelResult

Key = tuple  # ("n", node_id) | ("g", path) | ("s", src_id, dst_id)
# (src, dst, tensor, [(level path, edge index in that level)...]) for one drawn edge
Piece = tuple[str, str, str, list[tuple[tuple[str, ...], int]]]


@dataclass
class Level:
    """One group's sub-problem: its items (nodes, stubs, child groups), ports and edges."""

    path: tuple[str, ...]
    items: list[Key] = field(default_factory=list)
    order_key: list[float] = field(default_factory=list)
    index: dict[Key, int] = field(default_factory=dict)
    in_ports: dict[str, int] = field(default_factory=dict)
    out_ports: dict[str, int] = field(default_factory=dict)
    edges: dict[tuple, int] = field(default_factory=dict)
    edge_refs: list[tuple] = field(default_factory=list)
    result: LevelResult | None = None

    def add_item(self, key: Key, order: float) -> None:
        if key not in self.index:
            self.index[key] = -1
            self.items.append(key)
            self.order_key.append(order)

    def edge(self, src: tuple, dst: tuple) -> int:
        k = (src, dst)
        i = self.edges.get(k)
        if i is None:
            i = self.edges[k] = len(self.edge_refs)
            self.edge_refs.append(k)
            for ref, ports in ((src, self.in_ports), (dst, self.out_ports)):
                if ref[0] == "port":
                    ports.setdefault(ref[1], len(ports))
        return i


def framed_groups(graph: Graph) -> tuple[set[tuple[str, ...]], dict[tuple[str, ...], int]]:
    """Groups drawn as frames: >= 2 nodes, and not just a wrapper around one child group."""
    # nodes per group path, then summed into every prefix: one pass per distinct path (5k
    # for the 50k-node GPT), not per node; prefixes still enter ``counts`` in node order
    per_path: dict[tuple[str, ...], int] = {}
    for node in graph.nodes.values():
        g = node.group
        per_path[g] = per_path.get(g, 0) + 1
    counts: dict[tuple[str, ...], int] = {}
    for g, c in per_path.items():
        for i in range(1, len(g) + 1):
            p = g[:i]
            counts[p] = counts.get(p, 0) + c
    framed = {p for p, c in counts.items() if c >= 2}
    # a group whose nodes all sit in one child group would only add a frame around a frame
    for p, c in counts.items():
        if len(p) > 1 and c == counts[p[:-1]]:
            framed.discard(p[:-1])
    return framed, counts


@dataclass
class LevelTree:
    node_ids: list[str]
    levels: dict[tuple[str, ...], Level]
    parent: dict[tuple[str, ...], tuple[str, ...]]  # framed group -> its parent level
    first: dict[tuple[str, ...], int]  # framed group -> index of its first node
    chain: dict[str, list[tuple[str, ...]]]  # node -> framed groups holding it, outermost first


def build_tree(graph: Graph) -> LevelTree:
    node_ids = list(graph.nodes)
    framed, _counts = framed_groups(graph)
    chain: dict[str, list[tuple[str, ...]]] = {}
    chain_memo: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    levels: dict[tuple[str, ...], Level] = {(): Level(())}
    group_parent: dict[tuple[str, ...], tuple[str, ...]] = {}
    group_first: dict[tuple[str, ...], int] = {}
    for i, (nid, node) in enumerate(graph.nodes.items()):
        g = node.group
        ch = chain_memo.get(g)
        if ch is None:
            # the first node of this group path: its framed groups' levels start here (a
            # later node of the same path finds them all made)
            ch = chain_memo[g] = [g[:k] for k in range(1, len(g) + 1) if g[:k] in framed]
            for j, p in enumerate(ch):
                if p not in levels:
                    levels[p] = Level(p)
                    group_parent[p] = ch[j - 1] if j else ()
                    group_first[p] = i
        chain[nid] = ch
        # Level.add_item inlined (50k nodes, each key new)
        lv = levels[ch[-1] if ch else ()]
        key = ("n", nid)
        if key not in lv.index:
            lv.index[key] = -1
            lv.items.append(key)
            lv.order_key.append(float(i))
    for p, parent in group_parent.items():
        levels[parent].add_item(("g", p), float(group_first[p]))
    return LevelTree(node_ids, levels, group_parent, group_first, chain)


def cut_edges(graph: Graph, tree: LevelTree, aux: bool
              ) -> tuple[list[Piece], dict[Key, str]]:
    """Every drawn edge as its pieces per level; and the stub items (stub key -> source)."""
    node_ids, levels, chain = tree.node_ids, tree.levels, tree.chain
    producer: dict[str, int] = {}
    for i, node in enumerate(graph.nodes.values()):
        for t in node.outputs:
            producer.setdefault(t, i)
    int_edges: list[tuple[int, int, str]] = []
    for j, node in enumerate(graph.nodes.values()):
        ins = node.inputs
        if len(ins) == 1:  # most nodes: nothing to repeat
            i = producer.get(ins[0])
            if i is not None:
                int_edges.append((i, j, ins[0]))
            continue
        seen_t: set[str] = set()
        for t in ins:
            i = producer.get(t)
            if i is None or t in seen_t:
                continue
            seen_t.add(t)
            int_edges.append((i, j, t))
    aux_edges = find_aux_edges(len(node_ids), int_edges) if aux else set()
    stub_of: dict[Key, str] = {}
    pieces: list[tuple[str, str, str, list[tuple[tuple[str, ...], int]]]] = []
    for ei, (si, di, tensor) in enumerate(int_edges):
        if si == di:
            continue
        e_src, e_dst = node_ids[si], node_ids[di]
        if ei in aux_edges:
            skey = ("s", e_src, e_dst)
            ch = chain[e_dst]
            lv = levels[ch[-1] if ch else ()]
            if skey not in stub_of:
                stub_of[skey] = e_src
                lv.add_item(skey, di - 0.5)
            i = lv.edge(("item", skey, None), ("item", ("n", e_dst), None))
            pieces.append((e_src, e_dst, tensor, [(lv.path, i)]))
            continue
        cu, cv = chain[e_src], chain[e_dst]
        if cu is cv:  # one list per group path (build_tree): both ends in the same level
            lca = cu[-1] if cu else ()
            pieces.append((e_src, e_dst, tensor, [(lca, levels[lca].edge(
                ("item", ("n", e_src), None), ("item", ("n", e_dst), None)))]))
            continue
        common = 0
        while common < len(cu) and common < len(cv) and cu[common] == cv[common]:
            common += 1
        seq: list[tuple[tuple[str, ...], int]] = []
        # up: out of every group that holds the source but not the target
        for j in range(len(cu) - 1, common - 1, -1):
            p = cu[j]
            item = ("n", e_src) if j == len(cu) - 1 else ("g", cu[j + 1])
            port = None if item[0] == "n" else e_src
            seq.append((p, levels[p].edge(("item", item, port), ("port", e_src))))
        lca = cu[common - 1] if common else ()
        src_item = ("n", e_src) if common == len(cu) else ("g", cu[common])
        dst_item = ("n", e_dst) if common == len(cv) else ("g", cv[common])
        seq.append((lca, levels[lca].edge(
            ("item", src_item, None if src_item[0] == "n" else e_src),
            ("item", dst_item, None if dst_item[0] == "n" else e_src))))
        for j in range(common, len(cv)):
            q = cv[j]
            item = ("n", e_dst) if j == len(cv) - 1 else ("g", cv[j + 1])
            port = None if item[0] == "n" else e_src
            seq.append((q, levels[q].edge(("port", e_src), ("item", item, port))))
        pieces.append((e_src, e_dst, tensor, seq))

    return pieces, stub_of
