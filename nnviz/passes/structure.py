"""Structure from names, for flat graphs whose exporter recorded no hierarchy.

Keras applications, converted TF/TFLite models and OCR networks are flat lists of layers, but
their layer names spell the blocks: ``conv2_block1_1_conv``, ``conv2_block1_add``,
``block_3_expand_BN``, ``stage_0_block_0_conv``. This pass turns such name prefixes into
groups, so these graphs collapse, fold and read like the PyTorch and ONNX ones with scopes.

A prefix becomes a group only where the names agree, never by guessing:

- a prefix is a leading part of a name cut at a separator (``_``, ``/``, ``.``), contains a
  letter, and leaves a role behind (``conv``, ``bn``, ``add`` ... something with a letter:
  ``Conv_0`` / ``conv2d_45`` are op counters, not blocks);
- its members (every node whose name has that prefix) number at least two, are **contiguous**
  in topological order (no foreign node inside the run) and **connected** by edges among
  themselves (two BatchNorms in parallel Inception branches share a prefix but no edge);
- it is not the whole graph, and of prefixes with the same members only the longest is kept
  (``expanded`` and ``expanded_conv`` -> ``expanded_conv``).

Groups nest by prefix: ``conv2`` > ``conv2_block1`` > ``conv2_block1_1``. Only graphs with no
groups at all are touched, and only when they are bigger than one drawing's box budget.
"""

from __future__ import annotations

import re

from nnviz.ir import Graph
from nnviz.passes.util import topological_order
from nnviz.util import union_find_root

# Flat graphs up to this many nodes are drawn whole anyway: their drawing stays as it was.
MIN_NODES = 48
_SEP = re.compile(r"[_/.]")
_LETTER = re.compile(r"[A-Za-z]")


def is_flat(g: Graph) -> bool:
    return not g.groups and all(not n.group for n in g.nodes.values())


def infer_structure_inplace(g: Graph, min_nodes: int = MIN_NODES,
                            order: list[str] | None = None) -> Graph:
    """Give a flat graph groups from its node names (see the module docstring).

    ``order``: ``topological_order(g)`` when the caller has it already."""
    if not is_flat(g) or len(g.nodes) <= min_nodes:
        return g
    if order is None:
        order = topological_order(g)
    order = [nid for nid in order if g.nodes[nid].kind != "io"]
    pos = {nid: i for i, nid in enumerate(order)}
    members: dict[str, list[str]] = {}
    for nid in order:
        for prefix in _prefixes(g.nodes[nid].name, own=True):
            members.setdefault(prefix, []).append(nid)
    prod = g.producers()
    by_set: dict[tuple[str, ...], str] = {}
    for prefix in sorted(members, key=lambda p: (-len(p), p)):
        ids = members[prefix]
        if len(ids) < 2 or len(ids) == len(order):
            continue
        if pos[ids[-1]] - pos[ids[0]] + 1 != len(ids):
            continue  # not contiguous: someone else's layer sits inside the run
        if not _connected(g, ids, prod):
            continue
        if _counter_stem(prefix, [g.nodes[nid].name for nid in ids]):
            continue
        by_set.setdefault(tuple(ids), prefix)  # longest prefix for a member set wins
    if not by_set:
        return g
    accepted = set(by_set.values())
    for nid in order:
        node = g.nodes[nid]
        path = tuple(p for p in sorted(_prefixes(node.name, own=True), key=len)
                     if p in accepted)
        if path:
            node.group = path
            g.ensure_group(path)
    g.meta["structure_from_names"] = len(accepted)
    return g


def _prefixes(name: str, own: bool = False) -> list[str]:
    """Leading parts of ``name`` cut at separators that leave a role (a letter) behind;
    with ``own`` the name itself too (the ``block_2_expand`` conv belongs with its
    ``block_2_expand_BN`` and ``block_2_expand_relu``)."""
    out = []
    for m in _SEP.finditer(name):
        head, rest = name[:m.start()], name[m.end():]
        if head and rest and _LETTER.search(head) and _LETTER.search(rest):
            out.append(head)
    if own and _LETTER.search(name):
        out.append(name)
    return out


_NUMBERED = re.compile(r"[_/.]\d+(?:[_/.]|$)")


def _counter_stem(prefix: str, names: list[str]) -> bool:
    """``block`` in ``block_1_expand`` .. ``block_16_add``: a stem numbering blocks, not a
    block itself (its numbered children are the blocks)."""
    n = len(prefix)
    return all(name.startswith(prefix) and _NUMBERED.match(name, n) for name in names)


def _connected(g: Graph, ids: list[str], prod: dict[str, str]) -> bool:
    """Whether the edges among ``ids`` connect all of them (weakly)."""
    idset = set(ids)
    parent = {nid: nid for nid in ids}

    parts = len(ids)
    for nid in ids:
        for t in g.nodes[nid].inputs:
            src = prod.get(t)
            if src in idset and src != nid:
                a, b = union_find_root(parent, src), union_find_root(parent, nid)
                if a != b:
                    parent[a] = b
                    parts -= 1
    return parts == 1
