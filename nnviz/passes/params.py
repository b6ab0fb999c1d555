"""Parameter counts per node, rolled up per group and for the graph.

A weight shared by several nodes (same Param.name) is counted once in every roll-up, like
the frameworks' own counts (torch ``parameters()`` deduplicates, Keras ``count_params``).
Results: node.meta["params"|"trainable_params"|"param_bytes"], the same keys in each
Group.attrs and in graph.meta. Bytes are None when a dtype is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable

from nnviz.ir import Graph, Param
from nnviz.passes.util import copy_graph


def param_totals(params: Iterable[Param]) -> dict[str, int | None]:
    """Totals over params, each distinct weight name counted once."""
    seen: set[str] = set()
    total = trainable = 0
    nbytes: int | None = 0
    for p in params:
        if p.name in seen:
            continue
        seen.add(p.name)
        n = p.count or 0
        total += n
        if p.trainable:
            trainable += n
        b = p.nbytes
        if b is None:
            if n:
                nbytes = None
        elif nbytes is not None:
            nbytes += b
    return {"params": total, "trainable_params": trainable,
            "non_trainable_params": total - trainable, "param_bytes": nbytes}


def count_params(graph: Graph) -> Graph:
    """A copy of ``graph`` with parameter counts on nodes, groups and the graph."""
    return count_params_inplace(copy_graph(graph))


def count_params_inplace(g: Graph) -> Graph:
    members: dict[tuple[str, ...], list[Param]] = {path: [] for path in g.groups}
    for node in g.nodes.values():
        totals = param_totals(node.params)
        node.meta["params"] = totals["params"]
        node.meta["trainable_params"] = totals["trainable_params"]
        node.meta["param_bytes"] = totals["param_bytes"]
        for i in range(1, len(node.group) + 1):
            members.setdefault(node.group[:i], []).extend(node.params)
    for path, params in members.items():
        if path not in g.groups:
            g.ensure_group(path)
        g.groups[path].attrs.update(param_totals(params))
    g.meta.update(param_totals(p for n in g.nodes.values() for p in n.params))
    return g
