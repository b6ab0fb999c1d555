"""Parameter and FLOPs roll-ups in one walk over the nodes.

The same results as ``count_flops_inplace(count_params_inplace(g), dims)`` (nnviz.passes.params
and nnviz.passes.flops define them), written in the same order. At 50k nodes both passes are
bound by memory reads, not by their arithmetic: each node's fields (meta, params, group,
outputs and their tensors) are fetched from memory once for both instead of once per pass.
"""

from __future__ import annotations

from nnviz.ir import Graph
from nnviz.passes.flops import node_flops
from nnviz.passes.params import _one, _Row, _sum

_FLOPS_ERRORS = (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, KeyError)


def count_params_and_flops_inplace(g: Graph, dims: dict[str, int] | None = None) -> Graph:
    """count_flops_inplace(count_params_inplace(g), dims), in one walk."""
    dims = dict(dims or {})
    # Per distinct group path, once: the parameter row lists of its prefixes and the FLOPs
    # accumulators (graph total first) of its prefixes.
    per_group: dict[tuple[str, ...], tuple[list[list[_Row]], list[list[int]]]] = {}
    members: dict[tuple[str, ...], list[_Row]] = {path: [] for path in g.groups}
    sums: dict[tuple[str, ...], list[int]] = {}
    total = [0, 0, 0]  # flops, macs, unknown
    stats: dict[int, _Row] = {}  # id(Param) -> its row, each Param's row made once
    every: list[_Row] = []
    memo: dict[int, tuple] = {}  # node_flops' shape element counts
    for node in g.nodes.values():
        group = node.group
        entry = per_group.get(group)
        if entry is None:  # every path gets its totals, also one whose nodes hold nothing
            prefixes = [group[:i] for i in range(1, len(group) + 1)]
            entry = per_group[group] = ([members.setdefault(p, []) for p in prefixes],
                                        [total] + [sums.setdefault(p, [0, 0, 0])
                                                   for p in prefixes])
        lists, chain = entry
        meta = node.meta
        params = node.params
        if params:
            rows = []
            for p in params:
                row = stats.get(id(p))
                if row is None:
                    row = stats[id(p)] = (p.name, p.count or 0, p.trainable, p.nbytes, p.role)
                rows.append(row)
            for lst in lists:
                lst.extend(rows)
            every.extend(rows)
            totals = _one(rows[0]) if len(rows) == 1 else _sum(rows)
            meta["params"] = totals["params"]
            meta["trainable_params"] = totals["trainable_params"]
            meta["param_bytes"] = totals["param_bytes"]
            if totals["buffers"]:
                meta["buffers"] = totals["buffers"]
        else:
            meta["params"] = 0
            meta["trainable_params"] = 0
            meta["param_bytes"] = 0
        try:
            flops, macs = node_flops(g, node, dims, memo)
        except _FLOPS_ERRORS:
            flops, macs = None, None  # malformed attributes/shapes: unknown, never a crash
        meta["flops"] = flops
        meta["macs"] = macs
        if flops is None:
            for acc in chain:
                acc[2] += 1
        else:
            macs = macs or 0
            for acc in chain:
                acc[0] += flops
                acc[1] += macs
    groups = g.groups
    for path, rows in members.items():
        if path not in groups:
            g.ensure_group(path)
        groups[path].attrs.update(_sum(rows))
    g.meta.update(_sum(every))
    for path, (f, m, unknown) in sums.items():
        if path not in groups:
            g.ensure_group(path)
        groups[path].attrs.update({"flops": f, "macs": m, "flops_unknown": unknown})
    g.meta.update({"flops": total[0], "macs": total[1], "flops_unknown": total[2]})
    if dims:
        g.meta["dims"] = dict(sorted(dims.items()))
    return g
