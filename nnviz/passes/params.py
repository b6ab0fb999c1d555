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
    """Totals over params, each distinct weight name counted once.

    Only ``role == "param"`` counts as a parameter; buffers are summed under "buffers";
    constants count nowhere (see ``ir.PARAM_ROLES``).
    """
    # Each name's first Param only (as _sum counts it): a folded stack of 48 blocks sums
    # tens of thousands of Params, and count/nbytes recompute the shape's product.
    rows: list[_Row] = []
    seen: set[str] = set()
    for p in params:
        if p.name not in seen:
            seen.add(p.name)
            rows.append((p.name, p.count or 0, p.trainable, p.nbytes, p.role))
    return _sum(rows)


def count_params(graph: Graph) -> Graph:
    """A copy of ``graph`` with parameter counts on nodes, groups and the graph."""
    return count_params_inplace(copy_graph(graph))


def count_params_inplace(g: Graph) -> Graph:
    # Each distinct group path's prefixes once (50k nodes share a few thousand paths), and
    # each Param's count/bytes once: param_totals recomputes them from the shape per call.
    prefixes: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    members: dict[tuple[str, ...], list[Param]] = {path: [] for path in g.groups}
    stats: dict[int, _Row] = {}
    every: list[Param] = []
    for node in g.nodes.values():
        params = node.params
        group = node.group
        pre = prefixes.get(group)
        if pre is None:
            pre = prefixes[group] = [group[:i] for i in range(1, len(group) + 1)]
        for path in pre:  # also for nodes without params: every path gets its totals
            members.setdefault(path, []).extend(params)
        if not params:
            node.meta["params"] = 0
            node.meta["trainable_params"] = 0
            node.meta["param_bytes"] = 0
            continue
        for p in params:
            if id(p) not in stats:
                stats[id(p)] = (p.name, p.count or 0, p.trainable, p.nbytes, p.role)
        totals = _totals(params, stats)
        node.meta["params"] = totals["params"]
        node.meta["trainable_params"] = totals["trainable_params"]
        node.meta["param_bytes"] = totals["param_bytes"]
        if totals["buffers"]:
            node.meta["buffers"] = totals["buffers"]
        every.extend(params)
    for path, params in members.items():
        if path not in g.groups:
            g.ensure_group(path)
        g.groups[path].attrs.update(_totals(params, stats))
    g.meta.update(_totals(every, stats))
    return g


_Row = tuple[str, int, bool, int | None, str]


def _totals(params: list[Param], stats: dict[int, _Row]) -> dict[str, int | None]:
    """param_totals with each Param's (name, count, trainable, bytes, role) from ``stats``."""
    return _sum(stats[id(p)] for p in params)


def _sum(rows: Iterable[_Row]) -> dict[str, int | None]:
    """Totals over (name, count, trainable, bytes, role) rows, each weight name once."""
    seen: set[str] = set()
    total = trainable = buffers = 0
    nbytes: int | None = 0
    for name, n, train, b, role in rows:
        if name in seen:
            continue
        seen.add(name)
        if role != "param":
            if role == "buffer":
                buffers += n
            continue
        total += n
        if train:
            trainable += n
        if b is None:
            if n:
                nbytes = None
        elif nbytes is not None:
            nbytes += b
    return {"params": total, "trainable_params": trainable,
            "non_trainable_params": total - trainable, "param_bytes": nbytes,
            "buffers": buffers}
