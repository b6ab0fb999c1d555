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
    # each Param's (name, count, trainable, bytes, role) row once: param_totals recomputes
    # them from the shape per call. Roll-ups sum those rows.
    lists_of: dict[tuple[str, ...], list[list[_Row]]] = {}
    members: dict[tuple[str, ...], list[_Row]] = {path: [] for path in g.groups}
    stats: dict[int, _Row] = {}
    every: list[_Row] = []
    for node in g.nodes.values():
        params = node.params
        group = node.group
        lists = lists_of.get(group)
        if lists is None:  # every path gets its totals, also one whose nodes hold nothing
            lists = lists_of[group] = [members.setdefault(group[:i], [])
                                       for i in range(1, len(group) + 1)]
        meta = node.meta
        if not params:
            meta["params"] = 0
            meta["trainable_params"] = 0
            meta["param_bytes"] = 0
            continue
        rows = []
        for p in params:
            row = stats.get(id(p))
            if row is None:
                row = stats[id(p)] = (p.name, p.count or 0, p.trainable, p.nbytes, p.role)
            rows.append(row)
        for lst in lists:
            lst.extend(rows)
        every.extend(rows)
        write_node_totals(meta, rows)
    groups = g.groups
    for path, rows in members.items():
        if path not in groups:
            g.ensure_group(path)
        groups[path].attrs.update(_sum(rows))
    g.meta.update(_sum(every))
    return g


_Row = tuple[str, int, bool, int | None, str]


def write_node_totals(meta: dict, rows: list[_Row]) -> None:
    """A node's own totals from its weights' rows (at least one) into its meta."""
    totals = _one(rows[0]) if len(rows) == 1 else _sum(rows)
    meta["params"] = totals["params"]
    meta["trainable_params"] = totals["trainable_params"]
    meta["param_bytes"] = totals["param_bytes"]
    if totals["buffers"]:
        meta["buffers"] = totals["buffers"]


def sum_param_rows(rows: Iterable[_Row]) -> dict[str, int | None]:
    """param_totals over rows made as param_totals makes them ((name, count or 0,
    trainable, bytes, role) of each weight), for a caller that has the counts already."""
    return _sum(rows)


def _one(row: _Row) -> dict[str, int | None]:
    """_sum of one row (most weighted nodes hold one Param), without the name set."""
    _, n, train, b, role = row
    if role != "param":
        return {"params": 0, "trainable_params": 0, "non_trainable_params": 0,
                "param_bytes": 0, "buffers": n if role == "buffer" else 0}
    trainable = n if train else 0
    return {"params": n, "trainable_params": trainable, "non_trainable_params": n - trainable,
            "param_bytes": (None if n else 0) if b is None else b, "buffers": 0}


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
